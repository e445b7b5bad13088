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


def right_edge(locator) -> float:
    """The right edge of an element in CSS pixels of the viewport (Playwright's bounding box)."""
    box = locator.bounding_box()
    assert box is not None, f"{locator} is not rendered"
    return box["x"] + box["width"]
