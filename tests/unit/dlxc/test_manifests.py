from __future__ import annotations

import time
from pathlib import Path

import pytest
import yaml

from dlxc.apply.manifests import load_manifests, safe_load_all

BILLION_LAUGHS = """
a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]
"""


def test_billion_laughs_is_refused_fast() -> None:
    start = time.monotonic()
    with pytest.raises(yaml.YAMLError, match="anchors and aliases"):
        safe_load_all(BILLION_LAUGHS)
    assert time.monotonic() - start < 0.5


def test_deep_nesting_is_refused() -> None:
    with pytest.raises(yaml.YAMLError, match="nesting"):
        safe_load_all("a: " + "[" * 200 + "]" * 200)


def test_folder_multi_document_and_both_forms(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text("name: one\nimage: busybox\n---\napiVersion: dlxc.io/v1\nkind: Container\nmetadata: {name: two}\nspec: {image: busybox}\n")
    (tmp_path / "notes.txt").write_text("ignored")
    manifests, errors = load_manifests([str(tmp_path)])
    assert errors == []
    assert [(m.ref, m.index) for m in manifests] == [("container/one", 1), ("container/two", 2)]


def test_errors_name_file_document_object_and_field(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: ok\nimage: busybox\n---\nname: web\nimage: busybox\nmemory_limit: lots\ncolour: red\n")
    manifests, errors = load_manifests([str(bad)])
    assert manifests[0].ref == "container/ok"
    assert [str(e) for e in errors] == [
        f"{bad} (document 2) container/web: memory_limit: 'lots' is not a size; use a number with Ki, Mi, Gi or Ti (e.g. 512Mi)",
        f"{bad} (document 2) container/web: colour: unknown field",
    ]


def test_duplicate_names_are_an_error(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text("name: web\nimage: busybox\n")
    (tmp_path / "b.yaml").write_text("name: web\nimage: busybox\n")
    _, errors = load_manifests([str(tmp_path)])
    assert len(errors) == 1 and "also defined in" in str(errors[0])


def test_syntax_error_is_reported(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text("name: [unclosed\n")
    _, errors = load_manifests([str(tmp_path / "a.yaml")])
    assert len(errors) == 1 and "not valid YAML" in str(errors[0])


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("name: [oops\n", "not valid YAML: line 2, column 1: expected ',' or ']', but got '<stream end>' (while parsing a flow sequence at line 1, column 7)"),
        ("name: a\n  image: b\n", "not valid YAML: line 2, column 8: mapping values are not allowed here"),
        ("a: &x 1\nb: *x\n", "not valid YAML: anchors and aliases are not allowed (line 1)"),
    ],
    ids=["unclosed", "indent", "alias"],
)
def test_yaml_errors_are_one_line_with_the_position(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    _, errors = load_manifests([str(path)])
    assert [str(e) for e in errors] == [f"{path}: {message}"]


def test_the_shipped_examples_load() -> None:
    repo = Path(__file__).resolve().parents[3] / "manifests"
    manifests, errors = load_manifests([str(repo / "examples"), str(repo / "gitops-demo")], recursive=True)
    assert errors == []
    assert [m.ref for m in manifests] == [
        "container/shop-frontend", "container/shop-backend", "container/shop-db", "container/my-web-server",
        "container/demo-cache", "container/greeter",
    ]
    web = next(m for m in manifests if m.name == "my-web-server").obj.spec  # type: ignore[attr-defined]
    assert (web.image, web.memory, web.mounts[0].read_only, web.network.bridge) == ("busybox", "512Mi", True, None)
