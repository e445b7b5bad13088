"""factory_boy factories for the users and the graph's tables.

Every factory works with the three strategies: ``XFactory(...)`` saves one row, ``XFactory.build(...)`` makes an
unsaved instance (for ``bulk_create`` of many rows: ``Node.objects.bulk_create(NodeFactory.build_batch(500))``),
``XFactory.create_batch(n, ...)`` saves ``n``. Foreign keys not given are made by the sub-factory, so
``RelationshipFactory()`` alone creates its two nodes.

Nodes obey the hierarchy rule (a database trigger enforces it): a node's ``path`` is its parent's ``path`` plus
exactly one label; a node without a parent has a one-label path (or NULL); paths are unique. ``NodeFactory()``
makes a root whose path is a unique label (``node_17``); ``NodeFactory(parent=science, label="physics")`` makes
the child ``science.physics``.
"""

from __future__ import annotations

import random
import re

import factory
from factory.django import DjangoModelFactory

from graph.choices import QueueStatus
from graph.models import (
    ExternalResource,
    InferenceQueueItem,
    Node,
    NodeAttribute,
    NodeResourceLink,
    Reference,
    Relationship,
)
from kgsite.models import User

# The password of every user a factory makes, unless told otherwise (logins in tests type it).
USER_PASSWORD = "s3cret-pass-123"

PATH_LABEL = re.compile(r"[a-z0-9_]+")
EMBEDDING_DIMENSIONS = 768


class UserFactory(DjangoModelFactory):
    """A user made as ``User.objects.create_user`` makes one: email normalised, password hashed (``set_password``).

    Traits: ``staff=True`` (may open the admin), ``superuser=True`` (staff with every permission). ``password=None``
    gives an unusable password. ``permissions=["config_admin.view_systemconfig", ...]`` grants model permissions
    (``app_label.codename``), for permission matrices.
    """

    class Meta:
        model = User
        skip_postgeneration_save = True

    class Params:
        staff = factory.Trait(is_staff=True)
        superuser = factory.Trait(is_staff=True, is_superuser=True)

    email = factory.Sequence(lambda n: f"user{n}@example.com")
    password = USER_PASSWORD
    is_active = True
    is_staff = False
    is_superuser = False

    @classmethod
    def _build(cls, model_class, *args, **kwargs):
        password = kwargs.pop("password")
        user = model_class(*args, **kwargs)
        user.email = model_class.objects.normalize_email(user.email)
        user.set_password(password)
        return user

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        return cls._get_manager(model_class).create_user(*args, **kwargs)

    @factory.post_generation
    def permissions(user, create, extracted, **kwargs):
        if not extracted:
            return
        if not create:
            raise ValueError("permissions need a saved user: use UserFactory(...), not build()")
        from django.contrib.auth.models import Permission

        for dotted in extracted:
            app_label, codename = dotted.split(".", 1)
            user.user_permissions.add(
                Permission.objects.get(content_type__app_label=app_label, codename=codename)
            )


def _node_path(node) -> str:
    """The parent's path plus the node's label; the label alone for a root."""
    if not PATH_LABEL.fullmatch(node.label):
        raise ValueError(f"path label {node.label!r}: use lowercase letters, digits and underscores only")
    if node.parent_node is None:
        return node.label
    if not node.parent_node.path:
        raise ValueError(f"parent {node.parent_node} has no path: a child's path extends its parent's")
    return f"{node.parent_node.path}.{node.label}"


def _unit_vector(seed: int) -> list[float]:
    generator = random.Random(seed)
    vector = [generator.gauss(0.0, 1.0) for _ in range(EMBEDDING_DIMENSIONS)]
    norm = sum(value * value for value in vector) ** 0.5
    return [value / norm for value in vector]


class NodeFactory(DjangoModelFactory):
    """A node. ``label`` is the last label of its path (unique by default); ``parent`` (or ``parent_node``) makes
    it a child: ``NodeFactory(parent=people, label="ada")`` has the path ``people.ada``.

    Traits: ``embedded=True`` gives it a deterministic 768-d unit vector.
    """

    class Meta:
        model = Node

    class Params:
        label = factory.Sequence(lambda n: f"node_{n}")
        parent = None
        embedded = factory.Trait(embedding=factory.Sequence(_unit_vector))

    name = factory.LazyAttribute(lambda node: node.label.replace("_", " ").capitalize())
    node_type = "concept"
    parent_node = factory.SelfAttribute("parent")
    path = factory.LazyAttribute(_node_path)


class NodeAttributeFactory(DjangoModelFactory):
    class Meta:
        model = NodeAttribute

    node = factory.SubFactory(NodeFactory)
    attribute_type = "fact"
    attribute_key = factory.Sequence(lambda n: f"key_{n}")
    attribute_value = factory.Sequence(lambda n: f"value {n}")


class RelationshipFactory(DjangoModelFactory):
    """A manual edge between two new nodes unless told which. Trait: ``inferred=True`` (made by inference)."""

    class Meta:
        model = Relationship

    class Params:
        inferred = factory.Trait(auto_managed=True, source="inference")

    source_node = factory.SubFactory(NodeFactory)
    target_node = factory.SubFactory(NodeFactory)
    relationship_type = "related_to"


class ExternalResourceFactory(DjangoModelFactory):
    class Meta:
        model = ExternalResource

    url = factory.Sequence(lambda n: f"https://example.org/resource/{n}")
    title = factory.Sequence(lambda n: f"Resource {n}")


class NodeResourceLinkFactory(DjangoModelFactory):
    class Meta:
        model = NodeResourceLink

    node = factory.SubFactory(NodeFactory)
    resource = factory.SubFactory(ExternalResourceFactory)


class ReferenceFactory(DjangoModelFactory):
    """A citation with exactly one source and one target (the table's CHECKs): by default a new node cites a new
    resource. Give ``source_resource=`` for a resource as the source, ``target_node=`` for a node as the target:
    the default on that side is then left out."""

    class Meta:
        model = Reference

    source_resource = None
    source_node = factory.Maybe(
        "source_resource", yes_declaration=None, no_declaration=factory.SubFactory(NodeFactory)
    )
    target_node = None
    target_resource = factory.Maybe(
        "target_node", yes_declaration=None, no_declaration=factory.SubFactory(ExternalResourceFactory)
    )
    reference_type = "cites"


class InferenceQueueItemFactory(DjangoModelFactory):
    """A queue row. Creating a node queues it already (a trigger; one pending row per node): a pending row asked
    for a node that has one is that row, updated with the other fields given."""

    class Meta:
        model = InferenceQueueItem

    node = factory.SubFactory(NodeFactory)
    status = QueueStatus.PENDING

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        if kwargs.get("status") == QueueStatus.PENDING:
            waiting = model_class.objects.filter(node=kwargs["node"], status=QueueStatus.PENDING).first()
            if waiting is not None:
                for name, value in kwargs.items():
                    setattr(waiting, name, value)
                waiting.save()
                return waiting
        return super()._create(model_class, *args, **kwargs)
