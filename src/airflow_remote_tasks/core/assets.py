"""Assets (AIP-60): the URIs of what a platform holds (a task, a project, a dataset), checked and normalised,
and the URI of a file in object storage as an asset.

A platform's asset URI has one or more forms (:class:`AssetShape`): ``flyte://<host>/<project>/<domain>/<task>``,
``labelbox://projects/<id>``. Provider info registers each platform's scheme with Airflow, whose ``Asset(uri)``
then calls :func:`normalise` with the URI already split and tidied (scheme in lower case, no fragment, no
trailing slash). A URI of none of the forms is refused with the forms that work: the ``ValueError`` Airflow
expects, which fails the DAG's import. A normalised URI is one spelling per thing: the host and ids that are
case-insensitive (UUIDs) in lower case, literal words as written in the form.

Airflow is imported only inside the functions that need it (the OpenLineage converter).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import SplitResult, urlsplit, urlunsplit

# A host as a URI's authority holds it (RFC 3986 reg-name or IPv4, an optional port); an IPv6 literal or
# anything percent-encoded is not an address a platform's connection would hold either.
HOST = (
    r"[A-Za-z0-9](?:[A-Za-z0-9.-]{0,252}[A-Za-z0-9])?(?::[0-9]{1,5})?",
    "a host name, with :port if needed",
)
UUID = (r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}", "a UUID")
_PLACEHOLDER = re.compile(r"<([a-z_]+)>")


@dataclass(frozen=True)
class AssetShape:
    """The forms of one platform's asset URIs.

    ``forms`` are written after ``<scheme>://``: each is ``/``-separated segments, a segment being a literal
    word (``projects``) or a ``<placeholder>``; the first segment is the URI's authority. ``parts`` gives each
    placeholder's pattern (a full match) and how to say it; placeholders in ``lowered`` are case-insensitive
    and written in lower case.
    """

    scheme: str
    label: str  # what a person calls the platform: "Flyte"
    forms: tuple[str, ...]
    parts: Mapping[str, tuple[str, str]]
    example: str  # a whole URI of the first form
    lowered: frozenset[str] = field(default_factory=frozenset)

    def __post_init__(self) -> None:
        # A form naming a placeholder without a pattern is a programming error, found when the module loads.
        for form in self.forms:
            for segment in form.split("/"):
                name = _placeholder(segment)
                if name is not None and name not in self.parts:
                    raise LookupError(
                        f"The {self.scheme}:// form {form!r} names <{name}>, which has no pattern."
                    )

    @property
    def names_a_host(self) -> bool:
        """Whether its URIs start with a host (a platform one can run anywhere), not with a fixed word."""
        return _placeholder(self.forms[0].split("/")[0]) is not None

    @property
    def written(self) -> str:
        """The forms as a person reads them: ``flyte://<host>/<project>/... or ...``."""
        return " or ".join(f"{self.scheme}://{form}" for form in self.forms)

    def normalise(self, parts: SplitResult) -> SplitResult:
        """``parts`` in its one spelling.

        :raises ValueError: (what Airflow expects of a normaliser) a URI of another scheme, with user info or a
            query, or of none of the forms; the message names what is wrong and the forms that work.
        """
        uri = urlunsplit(parts)
        if parts.scheme != self.scheme:
            raise ValueError(f"{uri!r} is not a {self.label} asset URI: those start with {self.scheme}://.")
        if "@" in parts.netloc:
            raise ValueError(
                f"{_shown(parts)!r} holds user info before '@': an asset URI names what it stands for, never "
                f"credentials. Write it as {self.written}, such as {self.example}."
            )
        if parts.query:
            raise ValueError(
                f"{uri!r} has a query ('?{parts.query}'), which {self.label} asset URIs do not take. Write it as "
                f"{self.written}, such as {self.example}."
            )
        segments = [parts.netloc, *(s for s in parts.path.split("/") if s)]
        problems = []
        for form in self.forms:
            matched = self._match(form.split("/"), segments)
            if isinstance(matched, list):
                return parts._replace(
                    netloc=matched[0], path="/" + "/".join(matched[1:]) if matched[1:] else ""
                )
            problems.append(matched)
        # The problem of a form with as many segments as the URI says most; else the first form's.
        said = next((p for p in problems if not p.startswith("it has")), problems[0])
        raise ValueError(
            f"{uri!r} is not a {self.label} asset URI: {said}. Write it as {self.written}, such as {self.example}."
        )

    def uri(self, form: int = 0, **values: str) -> str:
        """The normalised URI of form number ``form`` with its placeholders filled in from ``values``.

        :raises ValueError: a value missing or not of its placeholder's pattern (naming it).
        """
        segments = []
        for segment in self.forms[form].split("/"):
            name = _placeholder(segment)
            if name is None:
                segments.append(segment)
            elif name not in values:
                raise ValueError(
                    f"A {self.label} asset URI {self.scheme}://{self.forms[form]} needs <{name}>."
                )
            else:
                segments.append(str(values[name]))
        return urlunsplit(self.normalise(urlsplit(f"{self.scheme}://{'/'.join(segments)}")))

    def _match(self, form: list[str], segments: list[str]) -> list[str] | str:
        """``segments`` normalised if they are of ``form``, else what is wrong with them."""
        if len(segments) != len(form):
            return (
                f"it has {len(segments)} parts after {self.scheme}://, and {'/'.join(form)} has {len(form)}"
            )
        out = []
        for expected, given in zip(form, segments, strict=True):
            name = _placeholder(expected)
            if name is None:
                if given.lower() != expected:
                    return f"{given!r} stands where {'/'.join(form)} has the word {expected!r}"
                out.append(expected)
                continue
            pattern, said = self.parts[name]
            if not given or not re.fullmatch(pattern, given):
                return f"{given!r} is not a valid <{name}> ({said})"
            out.append(given.lower() if name in self.lowered else given)
        return out


def _placeholder(segment: str) -> str | None:
    found = _PLACEHOLDER.fullmatch(segment)
    return found.group(1) if found else None


def _shown(parts: SplitResult) -> str:
    """``parts`` without its user info, for a message that refuses it."""
    return urlunsplit(parts._replace(netloc="***@" + parts.netloc.rpartition("@")[2]))


def normalise(parts: SplitResult, shapes: Mapping[str, AssetShape]) -> SplitResult:
    """``parts`` normalised by the shape of its scheme.

    :raises ValueError: a scheme without a shape in ``shapes``, or a URI of none of its forms.
    """
    shape = shapes.get(parts.scheme)
    if shape is None:
        raise ValueError(f"{urlunsplit(parts)!r}: no asset URI shape is known for {parts.scheme}://.")
    return shape.normalise(parts)


def to_openlineage(asset: Any, shapes: Mapping[str, AssetShape]) -> Any:
    """The OpenLineage dataset of ``asset``, named as OpenLineage names datasets: the namespace is the system
    (``<scheme>://<host>`` where the URI names a host, else the scheme: Labelbox and Avala are one service
    each), the name the thing in it: ``flyte://acme.example.com`` and ``ml/production/my_env.train``;
    ``labelbox`` and ``projects/ckproj...``.

    :raises ValueError: a URI of none of its scheme's forms (OpenLineage then skips the asset).
    """
    from airflow.providers.common.compat.openlineage.facet import Dataset

    parts = normalise(urlsplit(asset.uri), shapes)
    if shapes[parts.scheme].names_a_host:
        return Dataset(namespace=f"{parts.scheme}://{parts.netloc}", name=parts.path.lstrip("/"))
    return Dataset(namespace=parts.scheme, name=f"{parts.netloc}{parts.path}")


def file_asset_uri(path: Any) -> str:
    """The asset URI of a file in object storage (an ``ObjectStoragePath`` or its URI): the path as
    ``ObjectStoragePath`` writes it, without user info. ``s3://aws_default@bucket/key`` is ``s3://bucket/key``:
    the conn_id says how this worker reaches the file, not which file it is, and a DAG scheduled on the file
    names the file. A password (``scheme://user:password@...``) never reaches the asset, nor a query or fragment
    (where a signed URL carries its signature: ``?X-Amz-Signature=...``, a SAS token).
    """
    parts = urlsplit(str(path))
    if not parts.scheme:
        parts = urlsplit(f"file://{parts.path}")
    return urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2], query="", fragment=""))
