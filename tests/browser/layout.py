"""Layout measurements in the browser: does the page scroll sideways, and what sticks out of the screen?"""

from __future__ import annotations

# Elements whose right edge is beyond the viewport and that are not clipped by a scrolling ancestor (those are
# what makes the page itself wider than the screen), the widest first; a description of each for the message.
_OVERFLOW_JS = """
() => {
  const limit = window.innerWidth;
  const clippedByAncestor = (element) => {
    for (let node = element.parentElement; node && node !== document.body; node = node.parentElement) {
      const style = getComputedStyle(node);
      if (style.overflowX !== 'visible' && node.getBoundingClientRect().right <= limit + 0.5) return true;
    }
    return false;
  };
  const describe = (element) => {
    let text = element.tagName.toLowerCase();
    if (element.id) text += '#' + element.id;
    if (element.classList.length) text += '.' + Array.from(element.classList).slice(0, 3).join('.');
    const name = element.getAttribute('name');
    if (name) text += `[name="${name}"]`;
    return text;
  };
  const offenders = [];
  for (const element of document.body.querySelectorAll('*')) {
    const box = element.getBoundingClientRect();
    if (box.width === 0 || box.right <= limit + 0.5) continue;
    if (clippedByAncestor(element)) continue;
    offenders.push({element: describe(element), right: Math.round(box.right), width: Math.round(box.width)});
  }
  // Keep the outermost offenders' story short: the widest few and the innermost few are both useful.
  offenders.sort((a, b) => b.right - a.right || a.width - b.width);
  return {
    scrollWidth: document.documentElement.scrollWidth,
    innerWidth: window.innerWidth,
    offenders: offenders.slice(0, 12),
  };
}
"""


def horizontal_overflow(page) -> dict:
    """``scrollWidth``, ``innerWidth`` and the elements sticking out on the right."""
    return page.evaluate(_OVERFLOW_JS)


def overflow_problem(page) -> str | None:
    """None when the page does not scroll sideways; otherwise a message naming the widest offenders."""
    measured = horizontal_overflow(page)
    if measured["scrollWidth"] <= measured["innerWidth"]:
        return None
    lines = [f"{page.url}: the page is {measured['scrollWidth']} px wide in a {measured['innerWidth']} px viewport"]
    lines += [f"  {item['element']}: right edge at {item['right']} px, {item['width']} px wide"
              for item in measured["offenders"]]
    return "\n".join(lines)


_VISIBLE_RIGHT_JS = """
element => {
  let limit = window.innerWidth;
  for (let node = element.parentElement; node; node = node.parentElement) {
    if (getComputedStyle(node).overflowX !== 'visible') {
      limit = Math.min(limit, node.getBoundingClientRect().left + node.clientLeft + node.clientWidth);
    }
  }
  return {right: element.getBoundingClientRect().right, limit: limit};
}
"""


def visible_right(locator) -> dict:
    """``right``: the element's right edge in the viewport; ``limit``: how far right anything is visible there
    without scrolling (the viewport, or a scrolling container such as the admin's ``.results`` if narrower)."""
    return locator.evaluate(_VISIBLE_RIGHT_JS)


def fully_visible_problem(locator, what: str) -> str | None:
    """None when the element's right edge is on screen without any scrolling; otherwise a message."""
    measured = visible_right(locator)
    if measured["right"] <= measured["limit"] + 0.5:
        return None
    return (f"{what} ends at {measured['right']:.0f} px, beyond what is visible without scrolling "
            f"({measured['limit']:.0f} px)")
