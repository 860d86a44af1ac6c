"""The folder tree of a library: every folder that holds photos, with how many, under its root.

Built from the photos' paths (what the cache knows), not from the disk, so it is quick and shows
only folders with photos: a folder appears when a photo below it is indexed.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Iterable

from simdesk.core.paths import folder_prefix


@dataclass
class FolderNode:
    """One folder: ``count`` photos in it and below it, ``own`` directly in it."""

    path: str
    name: str
    count: int = 0
    own: int = 0
    children: list["FolderNode"] = field(default_factory=list)

    def walk(self):
        """This node and every node below it, parents first."""
        yield self
        for child in self.children:
            yield from child.walk()


def folder_tree(photo_paths: Iterable[str], roots: Iterable[str]) -> list[FolderNode]:
    """One tree per library folder in ``roots`` (in their order), children sorted by name.

    A photo belongs to the innermost root that holds it (a library folder inside another one
    has its own tree). Folders between a root and a photo's folder appear even when they hold
    no photo directly, so every photo can be reached by expanding. Photos under no root are
    left out. A root without photos is still listed, with a count of 0.
    """
    roots = [r.rstrip(os.sep) or os.sep for r in roots]
    by_length = sorted(roots, key=len, reverse=True)
    own: dict[str, int] = {}
    for path in photo_paths:
        folder = os.path.dirname(path)
        own[folder] = own.get(folder, 0) + 1
    nodes: dict[str, FolderNode] = {
        root: FolderNode(root, os.path.basename(root) or root) for root in roots}
    for folder, n in own.items():
        root = next((r for r in by_length if folder == r or folder.startswith(folder_prefix(r))), None)
        if root is None:
            continue
        node = _node(nodes, folder, root)
        node.own += n
        while True:  # the count of every folder up to the root
            node.count += n
            if node.path == root:
                break
            node = nodes[os.path.dirname(node.path)]
    for node in nodes.values():
        node.children.sort(key=lambda c: (c.name.casefold(), c.name))
    return [nodes[root] for root in roots]


def _node(nodes: dict[str, FolderNode], folder: str, root: str) -> FolderNode:
    node = nodes.get(folder)
    if node is not None:
        return node
    node = nodes[folder] = FolderNode(folder, os.path.basename(folder))
    parent = _node(nodes, os.path.dirname(folder), root)
    parent.children.append(node)
    return node
