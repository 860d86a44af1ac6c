"""The folder tree: every folder with photos, counts including subfolders, nested library folders."""

from simdesk.core.folders import folder_tree


def test_tree_counts_and_intermediate_folders():
    paths = ["/p/a.jpg", "/p/cats/1.jpg", "/p/cats/2.jpg", "/p/x/y/z/3.jpg", "/elsewhere/4.jpg"]
    (root,) = folder_tree(paths, ["/p"])
    assert (root.path, root.name, root.count, root.own) == ("/p", "p", 4, 1)
    assert [c.name for c in root.children] == ["cats", "x"]
    cats, x = root.children
    assert (cats.count, cats.own) == (2, 2)
    assert (x.count, x.own) == (1, 0)  # no photo directly in it, but one below: listed
    assert [n.path for n in x.walk()] == ["/p/x", "/p/x/y", "/p/x/y/z"]


def test_nested_library_folder_and_empty_root():
    paths = ["/p/1.jpg", "/p/in/2.jpg", "/p/in/deep/3.jpg"]
    outer, inner, empty = folder_tree(paths, ["/p", "/p/in/", "/q"])
    assert (outer.count, outer.children) == (1, [])  # /p/in is a library folder of its own
    assert (inner.path, inner.count, [c.name for c in inner.children]) == ("/p/in", 2, ["deep"])
    assert (empty.path, empty.count, empty.children) == ("/q", 0, [])


def test_children_sorted_by_name_case_insensitively():
    (root,) = folder_tree(["/p/b/1.jpg", "/p/A/1.jpg", "/p/c/1.jpg"], ["/p"])
    assert [c.name for c in root.children] == ["A", "b", "c"]
