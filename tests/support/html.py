"""HTML read into a tree of elements with the standard library's parser, for tests that check pages by structure."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from html.parser import HTMLParser

VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}


@dataclass
class Element:
    tag: str
    attrs: dict[str, str | None] = field(default_factory=dict)
    children: list[Element | str] = field(default_factory=list)

    @property
    def text(self) -> str:
        """All the text below, whitespace collapsed."""
        return " ".join(self.raw_text.split())

    @property
    def raw_text(self) -> str:
        """All the text below as it is (a <pre> keeps its lines)."""
        return "".join(self._texts())

    def _texts(self) -> Iterator[str]:
        if self.tag == "br":
            yield "\n"  # a line break, as a browser's innerText has it
        for child in self.children:
            yield from (child,) if isinstance(child, str) else child._texts()

    def iter(self) -> Iterator[Element]:
        for child in self.children:
            if isinstance(child, Element):
                yield child
                yield from child.iter()

    def find_all(self, tag: str, **attrs: str) -> list[Element]:
        """Every element below of `tag` whose attributes have the values given (class_ for class)."""
        wanted = {k.rstrip("_").replace("_", "-"): v for k, v in attrs.items()}
        return [
            e for e in self.iter() if e.tag == tag and all(_matches(e.attrs.get(k), v, k) for k, v in wanted.items())
        ]

    def first(self, tag: str, **attrs: str) -> Element:
        """The first element below of `tag` with those attributes, in document order."""
        found = self.find_all(tag, **attrs)
        assert found, f"no <{tag} {attrs}> found"
        return found[0]

    def find(self, tag: str, **attrs: str) -> Element:
        """The one element below of `tag` with those attributes (AssertionError when not exactly one)."""
        found = self.find_all(tag, **attrs)
        assert len(found) == 1, f"{len(found)} <{tag} {attrs}> found"
        return found[0]


def _matches(value: str | None, wanted: str, name: str) -> bool:
    if value is None:
        return False
    return wanted in value.split() if name == "class" else value == wanted


class _Builder(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Element("#document")
        self.open = [self.root]

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        element = Element(tag, dict(attrs))
        self.open[-1].children.append(element)
        if tag not in VOID:
            self.open.append(element)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.open[-1].children.append(Element(tag, dict(attrs)))

    def handle_endtag(self, tag: str) -> None:
        for index in range(len(self.open) - 1, 0, -1):
            if self.open[index].tag == tag:
                del self.open[index:]
                return

    def handle_data(self, data: str) -> None:
        self.open[-1].children.append(data)


def parse(text: str) -> Element:
    builder = _Builder()
    builder.feed(text)
    builder.close()
    return builder.root
