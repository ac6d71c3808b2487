"""A plate's image sets and how they split into groups, before anything runs. Pure.

Metadata come from one of two places, as in CellProfiler itself:

- a **LoadData CSV** (``FileName_<Ch>``/``PathName_<Ch>`` per channel and
  ``Metadata_*`` columns, one row per site), whose files are looked up in the
  job's input prefix by name (``PathName_`` names the instrument's folder, not
  ours) and whose paths the runner rewrites to where it downloaded them;
- the **file names**, through a regular expression with Python named groups
  (``metadata_regex``, or the pipeline's own Metadata module): the group named
  like a channel (``Channel``, ``ChannelNumber``, ``Wavelength``…) tells the
  channel, every other group identifies the site.

``plan_plate`` groups the sites by any metadata names (``Metadata_Plate``,
``Metadata_Well``…), and reports every problem that would waste compute:
a site lacking a channel, two files for one channel of a site, files named in
the LoadData CSV that are not in the input, a grouping name no site has.

Python 3.8/3.9-compatible: the Batch container imports it.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from chalicelib.painting import pipeline, platemap
from chalicelib.storage import is_folder_marker

CHANNEL_NAMES = ("channel", "channelnumber", "channelname", "wavelength", "ch", "w")
MAX_LISTED = 20  # files or sites named in one problem before "and N more"
MAX_REGEX_LENGTH = 1000
FOLDER_SAFE = re.compile(r"[^A-Za-z0-9._=-]+")
FOLDER_MARK = "~"  # outside FOLDER_SAFE's set: only a changed name carries it


def folder_safe(text: str) -> str:
    """``text`` as a key- and disk-safe folder name, one name for one text.

    A text already made of ``A-Za-z0-9._=-`` (and not dots only) is kept as it is;
    any other text is sanitised and gets ``~`` and a short hash of the original,
    so ``a b`` and ``a_b`` (or ``..`` and ``__``) never share a folder.

    >>> folder_safe("P1"), folder_safe("a b"), folder_safe("a_b")
    ('P1', 'a_b~c8687a08', 'a_b')
    >>> folder_safe("..")
    '__~5ec1f7e7'
    """
    name = FOLDER_SAFE.sub("_", text)
    if name and not name.strip("."):  # dots only: "." and ".." name another folder
        name = "_" * len(name)
    if name == text:
        return name
    return name + FOLDER_MARK + hashlib.sha256(text.encode("utf-8")).hexdigest()[:8]


def metadata_name(name: str) -> str:
    """``Well`` and ``Metadata_Well`` both mean ``Metadata_Well``.

    >>> metadata_name("Well"), metadata_name("Metadata_Plate")
    ('Metadata_Well', 'Metadata_Plate')
    """
    name = name.strip()
    return name if name.startswith("Metadata_") else "Metadata_" + name


@dataclass(frozen=True)
class Site:
    """One image set: its metadata and one image (S3 key) per channel."""

    metadata: tuple[tuple[str, str], ...]
    files: tuple[tuple[str, str], ...]  # (channel, key), channels sorted
    row: tuple[tuple[str, str], ...] = ()  # the LoadData row, when there is one

    def value(self, name: str) -> str:
        return dict(self.metadata).get(name, "")


@dataclass(frozen=True)
class Group:
    """The sites that one Batch child runs: one value of each ``group_by`` name."""

    key: tuple[tuple[str, str], ...]
    sites: tuple[Site, ...]

    @property
    def name(self) -> str:
        """CellProfiler's ``-g`` form: ``Metadata_Plate=P1,Metadata_Well=A01``."""
        return ",".join(f"{name}={value}" for name, value in self.key) or "all"

    @property
    def folder(self) -> str:
        """A key-safe folder name: ``Plate-P1_Well-A01``."""
        parts = [f"{name[len('Metadata_') :]}-{value}" for name, value in self.key]
        return folder_safe("_".join(parts)) or "all"

    @property
    def keys(self) -> list[str]:
        return sorted({key for site in self.sites for _, key in site.files})

    def value(self, name: str) -> str:
        """The group's value of ``name``, or the sites' common value, or ``""``."""
        found = dict(self.key).get(name)
        if found is not None:
            return found
        values = {site.value(name) for site in self.sites}
        return values.pop() if len(values) == 1 else ""

    @property
    def wells(self) -> list[str]:
        return sorted({site.value("Metadata_Well") for site in self.sites} - {""})


@dataclass(frozen=True)
class Plate:
    """Every group of a job, in a stable order, and what is wrong with the plate."""

    source: str  # "load_data" or "file names"
    channels: tuple[str, ...]
    group_by: tuple[str, ...]
    groups: tuple[Group, ...]
    problems: tuple[str, ...]
    header: tuple[str, ...] = ()  # the LoadData CSV's columns
    unmatched: int = 0  # image files the regular expression did not match

    @property
    def sites(self) -> int:
        return sum(len(group.sites) for group in self.groups)

    def group(self, name: str) -> Group:
        for group in self.groups:
            if group.name == name:
                return group
        raise KeyError(name)

    def summary(self) -> dict[str, object]:
        return {
            "source": self.source,
            "group_by": list(self.group_by),
            "groups": len(self.groups),
            "sites": self.sites,
            "channels": list(self.channels),
            "images": sum(len(group.keys) for group in self.groups),
            "unmatched_images": self.unmatched,
        }


# -- LoadData --------------------------------------------------------------------------
def load_data_channels(header: Sequence[str]) -> list[str]:
    """Channels of a LoadData CSV: names with both ``FileName_`` and ``PathName_`` columns.

    >>> load_data_channels(["Metadata_Well", "FileName_OrigDNA", "PathName_OrigDNA", "FileName_X"])
    ['OrigDNA']
    """
    names = set(header)
    return sorted(
        c[len("FileName_") :]
        for c in header
        if c.startswith("FileName_") and "PathName_" + c[len("FileName_") :] in names
    )


def parse_load_data(
    text: str, input_prefix: str, keys: Iterable[str], bucket: str = ""
) -> tuple[list[Site], tuple[str, ...], list[str]]:
    """(sites, header, problems) of a LoadData CSV whose images are under ``input_prefix``.

    A file is found by ``s3://<bucket>/<key>`` in ``PathName_`` when it names this
    bucket, else by its name anywhere under the input prefix (the folder that
    ``PathName_`` names decides between two files of the same name).
    """
    reader = csv.DictReader(io.StringIO(text))
    header = tuple(reader.fieldnames or ())
    channels = load_data_channels(header)
    if not channels:
        return [], header, ["the LoadData CSV has no FileName_<Ch>/PathName_<Ch> column pair"]
    index = _by_name(keys, input_prefix)
    sites: list[Site] = []
    missing: list[str] = []
    problems: list[str] = []
    for number, row in enumerate(reader, start=2):
        files = []
        for channel in channels:
            name = (row.get("FileName_" + channel) or "").strip()
            if not name:
                problems.append(f"LoadData row {number}: FileName_{channel} is empty")
                continue
            key = _resolve(name, (row.get("PathName_" + channel) or "").strip(), index, bucket)
            if key is None:
                missing.append(name)
            else:
                files.append((channel, key))
        metadata = tuple(
            (name, (row.get(name) or "").strip()) for name in header if name.startswith("Metadata_")
        )
        sites.append(Site(metadata, tuple(files), tuple((k, row.get(k) or "") for k in header)))
    if missing:
        problems.insert(
            0, _listed(f"{len(missing)} files named in the LoadData CSV do not exist", missing)
        )
    if not sites:
        problems.append("the LoadData CSV has no rows")
    return sites, header, problems


def _by_name(keys: Iterable[str], prefix: str) -> dict[str, list[str]]:
    index: dict[str, list[str]] = {}
    for key in keys:
        if key.startswith(prefix) and not is_folder_marker(key):
            index.setdefault(key.rsplit("/", 1)[-1], []).append(key)
    return index


def _resolve(name: str, path: str, index: Mapping[str, list[str]], bucket: str) -> str | None:
    if bucket and path.startswith(f"s3://{bucket}/"):
        key = path[len(f"s3://{bucket}/") :].strip("/") + "/" + name
        return key if key in index.get(name, []) else None
    candidates = index.get(name, [])
    if len(candidates) <= 1:
        return candidates[0] if candidates else None
    folder = path.replace("\\", "/").rstrip("/").rsplit("/", 1)[-1]
    same = [key for key in candidates if key.rsplit("/", 2)[-2:-1] == [folder]]
    return same[0] if len(same) == 1 else None


def rewrite_load_data(
    header: Sequence[str], sites: Iterable[Site], folder_of: Mapping[str, str]
) -> str:
    """The CSV for one group: its rows only, ``PathName_`` set to where each file now is.

    >>> site = Site((("Metadata_Well", "A01"),), (("DNA", "in/a.tif"),),
    ...             (("Metadata_Well", "A01"), ("FileName_DNA", "a.tif"),
    ...              ("PathName_DNA", "/mnt/x")))
    >>> header = ["Metadata_Well", "FileName_DNA", "PathName_DNA"]
    >>> rewrite_load_data(header, [site], {"in/a.tif": "/tmp/in"})
    'Metadata_Well,FileName_DNA,PathName_DNA\\nA01,a.tif,/tmp/in\\n'
    """
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    for site in sites:
        row = dict(site.row)
        for channel, key in site.files:
            row["PathName_" + channel] = folder_of[key]
        writer.writerow([row.get(name, "") for name in header])
    return out.getvalue()


# -- file names ---------------------------------------------------------------------------
def compile_regex(pattern: str) -> tuple[re.Pattern[str] | None, str | None]:
    """(compiled, problem): a regular expression with named groups, one of them a channel."""
    if len(pattern) > MAX_REGEX_LENGTH:
        return None, f"metadata_regex is longer than {MAX_REGEX_LENGTH} characters"
    try:
        compiled = re.compile(pattern)
    except re.error as exc:
        return None, f"metadata_regex is not a valid regular expression: {exc}"
    if not compiled.groupindex:
        return None, "metadata_regex has no named groups, e.g. (?P<Well>[A-P][0-9]{2})"
    if channel_group(compiled) is None:
        names = ", ".join(compiled.groupindex)
        return (
            None,
            f"metadata_regex has no channel group (named Channel or ChannelNumber; has {names})",
        )
    return compiled, None


def channel_group(compiled: re.Pattern[str]) -> str | None:
    for name in compiled.groupindex:
        if name.lower() in CHANNEL_NAMES:
            return name
    return None


def parse_file_names(
    keys: Iterable[str], input_prefix: str, compiled: re.Pattern[str]
) -> tuple[list[Site], list[str], int]:
    """(sites, problems, unmatched images): image files grouped into sites by their names."""
    channel = channel_group(compiled)
    by_site: dict[tuple[tuple[str, str], ...], dict[str, list[str]]] = {}
    unmatched = 0
    for key in sorted(keys):
        name = key[len(input_prefix) :] if key.startswith(input_prefix) else key
        if is_folder_marker(key) or not pipeline.is_image(name):
            continue
        match = compiled.search(name.rsplit("/", 1)[-1])
        if match is None:
            unmatched += 1
            continue
        values = match.groupdict()
        metadata = tuple(
            (metadata_name(k), (v or "").strip()) for k, v in values.items() if k != channel
        )
        by_site.setdefault(metadata, {}).setdefault(str(values[str(channel)]), []).append(key)
    sites, duplicates = [], []
    for metadata, files in sorted(by_site.items()):
        for chan, found in files.items():
            if len(found) > 1:
                duplicates.append(f"{_site_label(metadata)} channel {chan}: {', '.join(found[:3])}")
        sites.append(Site(metadata, tuple(sorted((c, f[0]) for c, f in files.items()))))
    problems = (
        [_listed(f"{len(duplicates)} channels of a site have several files", duplicates)]
        if duplicates
        else []
    )
    return sites, problems, unmatched


def _site_label(metadata: Iterable[tuple[str, str]]) -> str:
    return " ".join(f"{name[len('Metadata_') :]}={value}" for name, value in metadata)


# -- the pipeline's own metadata ------------------------------------------------------
def pipeline_regex(info: pipeline.PipelineInfo) -> str | None:
    """The file-name regular expression of the pipeline's Metadata module, if it extracts one."""
    for module in info.enabled("Metadata"):
        if module.value("Extract metadata?") != "Yes":
            continue
        methods = module.values("Metadata extraction method")
        sources = module.values("Metadata source")
        regexes = module.values("Regular expression to extract from file name")
        for index, method in enumerate(methods):
            source = sources[index] if index < len(sources) else ""
            if method == "Extract from file/folder names" and source == "File name":
                return regexes[index] if index < len(regexes) else None
    return None


def pipeline_grouping(info: pipeline.PipelineInfo) -> tuple[str, ...]:
    """The metadata names the pipeline groups by (Groups or LoadData); empty if none.

    CellProfiler's ``-g`` only works with exactly these names.
    """
    for module in info.enabled("Groups"):
        if module.value("Do you want to group your images?") == "Yes":
            return tuple(
                metadata_name(v) for v in module.values("Metadata category") if v != "None"
            )
    for module in info.enabled("LoadData"):
        if module.value("Group images by metadata?") == "Yes":
            tags = module.value("Select metadata tags for grouping")
            return tuple(metadata_name(t) for t in tags.split(",") if t.strip())
    return ()


def uses_load_data(info: pipeline.PipelineInfo) -> bool:
    return bool(info.enabled("LoadData"))


# -- validation and grouping -------------------------------------------------------------
def incomplete_sites(sites: Sequence[Site], channels: Sequence[str]) -> list[str]:
    """Sites that lack a channel, as ``Well=A01 Site=2 lacks 3``."""
    wanted = set(channels)
    found = []
    for site in sites:
        lacking = sorted(wanted - {channel for channel, _ in site.files})
        if lacking:
            found.append(f"{_site_label(site.metadata)} lacks {', '.join(lacking)}")
    return found


def group_sites(sites: Sequence[Site], group_by: Sequence[str]) -> list[Group]:
    """Sites grouped by the values of ``group_by``, groups sorted by those values."""
    groups: dict[tuple[tuple[str, str], ...], list[Site]] = {}
    for site in sites:
        key = tuple((name, site.value(name)) for name in group_by)
        groups.setdefault(key, []).append(site)
    return [Group(key, tuple(found)) for key, found in sorted(groups.items(), key=_group_order)]


def _group_order(item: tuple[tuple[tuple[str, str], ...], list[Site]]) -> tuple[object, ...]:
    return tuple(_natural(value) for _, value in item[0])


def _natural(value: str) -> tuple[int, object]:
    """Numbers as numbers (site 10 after site 9), text as text."""
    return (0, int(value)) if value.isdigit() else (1, value)


def plan_plate(
    *,
    keys: Sequence[str],
    input_prefix: str,
    group_by: Sequence[str],
    load_data: str | None = None,
    regex: str | None = None,
    bucket: str = "",
) -> Plate:
    """Every group of a job and every problem with the plate (empty when it can run)."""
    group_by = tuple(metadata_name(name) for name in group_by)
    header: tuple[str, ...] = ()
    unmatched = 0
    if load_data is not None:
        source = "load_data"
        sites, header, problems = parse_load_data(load_data, input_prefix, keys, bucket)
        channels = tuple(load_data_channels(header))
    else:
        source = "file names"
        compiled, problem = compile_regex(regex or "")
        if compiled is None:
            return Plate(source, (), group_by, (), (str(problem),))
        sites, problems, unmatched = parse_file_names(keys, input_prefix, compiled)
        channels = tuple(sorted({channel for site in sites for channel, _ in site.files}))
        if not sites:
            problems.append(
                "no image under the input prefix matches metadata_regex "
                f"({unmatched} images do not)"
            )
    names = sorted({name for site in sites for name, _ in site.metadata})
    unknown = [name for name in group_by if sites and name not in names]
    if unknown:
        problems.append(
            f"group_by names no metadata of the images: {', '.join(unknown)} "
            f"(have: {', '.join(names)})"
        )
    unnamable = sorted({f"{n}={v}" for s in sites for n, v in s.metadata if n in group_by
                        and ("," in v or "=" in v)})  # fmt: skip
    if unnamable:
        problems.append(_listed("metadata values with , or = cannot name a group", unnamable))
    lacking = incomplete_sites(sites, channels)
    if lacking:
        problems.append(_listed(f"{len(lacking)} of {len(sites)} sites lack a channel", lacking))
    groups = group_sites(sites, group_by) if sites and not unknown else []
    return Plate(source, channels, group_by, tuple(groups), tuple(problems), header, unmatched)


def _listed(headline: str, items: Sequence[str]) -> str:
    shown = ", ".join(items[:MAX_LISTED])
    more = f" and {len(items) - MAX_LISTED} more" if len(items) > MAX_LISTED else ""
    return f"{headline}: {shown}{more}"


# The platemap's well column, under any of these names (``profiles.read_platemap`` renames
# it ``Metadata_Well``); its wells join the per-well profiles.
PLATEMAP_WELL_COLUMNS = ("Metadata_Well", "Well", "well_position", "Metadata_well_position", "well")


def platemap_problems(data: bytes) -> list[str]:
    """Why the plate's merge could not use this platemap CSV (checked before any well runs).

    The merge reads it with pandas (UTF-8, a BOM allowed) and joins its rows to the
    per-well profiles by well: it needs a well column, well names in it, and each well
    once (a second row of a well would double that well's profile).

    >>> platemap_problems(b"Well,Treatment\\nA01,DMSO\\nB02,drug\\n")
    []
    >>> platemap_problems(b"Plate,Treatment\\nP1,DMSO\\n")[0][:36]
    'the platemap has no well column (one'
    """
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        return [f"the platemap is not UTF-8 text (byte {exc.start}); save it as CSV UTF-8"]
    rows = csv.reader(io.StringIO(text))
    header = next(rows, [])
    column = next((c for c in PLATEMAP_WELL_COLUMNS if c in header), None)
    if column is None:
        return [
            f"the platemap has no well column (one of {', '.join(PLATEMAP_WELL_COLUMNS)}); "
            f"its header: {', '.join(h[:40] for h in header[:MAX_LISTED])[:400]}"
        ]
    index = header.index(column)
    seen: set[str] = set()
    bad, twice = [], []
    for row in rows:
        well = row[index].strip() if index < len(row) else ""
        key = platemap.well_key(well)  # A1 and A01 are one well
        if platemap.well_position(well) is None:
            bad.append(repr(well[:20]))
        elif key in seen:
            twice.append(key)
        seen.add(key)
    problems = []
    if bad:
        problems.append(_listed(f"the platemap's {column} holds what is not a well name", bad))
    if twice:
        problems.append(_listed("the platemap names a well more than once", twice))
    return problems


def group_downloads(group: Group, input_prefix: str) -> list[tuple[str, str]]:
    """(key, path relative to the child's input folder) for each image of the group.

    >>> g = Group((), (Site((), (("1", "in/p/a.tif"), ("2", "other/b.tif"))),))
    >>> group_downloads(g, "in/")
    [('in/p/a.tif', 'p/a.tif'), ('other/b.tif', '_elsewhere/other/b.tif')]
    """
    found = []
    for key in group.keys:
        relative = key[len(input_prefix) :] if key.startswith(input_prefix) else "_elsewhere/" + key
        found.append((key, relative))
    return found


def group_arguments(
    group: Group, group_by: Sequence[str], grouping: Sequence[str], data_file: str | None = None
) -> list[str]:
    """CellProfiler's options for one group: ``-g`` when the pipeline groups by exactly
    ``group_by`` (CellProfiler refuses other names), ``--data-file`` for LoadData.

    The group's own images (or LoadData rows) are all the run sees either way.

    >>> g = Group((("Metadata_Well", "A01"),), ())
    >>> group_arguments(g, ["Metadata_Well"], ["Metadata_Well"], "/w/load_data.csv")
    ['-g', 'Metadata_Well=A01', '--data-file', '/w/load_data.csv']
    >>> group_arguments(g, ["Metadata_Well"], [])
    []
    """
    arguments: list[str] = []
    if group.key and list(grouping) == list(group_by):
        arguments += ["-g", group.name]
    if data_file:
        arguments += ["--data-file", data_file]
    return arguments


# -- the plan the Batch children read ----------------------------------------------------
def plate_name(group: Group) -> str:
    """The plate a group belongs to (``Metadata_Plate``), ``plate`` when no name says.

    It names the merge's folder on disk and in S3 (``folder_safe``: ``.`` and ``..`` would
    name another one, ``a b`` and ``a_b`` one folder for two plates).

    >>> plate_name(Group((("Metadata_Plate", "P 1"),), ())), plate_name(Group((), ()))
    ('P_1~6b906186', 'plate')
    >>> plate_name(Group((("Metadata_Plate", ".."),), ()))
    '__~5ec1f7e7'
    """
    return folder_safe(group.value("Metadata_Plate")) or "plate"


def plan_document(found: Plate) -> dict[str, object]:
    """The plate as JSON: what each Batch child needs to run its group."""
    return {
        **found.summary(),
        "header": list(found.header),
        "groups": [
            {
                "name": group.name,
                "folder": group.folder,
                "plate": plate_name(group),
                "wells": group.wells,
                "key": [list(pair) for pair in group.key],
                "sites": [
                    {
                        "metadata": [list(pair) for pair in site.metadata],
                        "files": [list(pair) for pair in site.files],
                        "row": [list(pair) for pair in site.row],
                    }
                    for site in group.sites
                ],
            }
            for group in found.groups
        ],
    }


def group_from_document(document: Mapping[str, object]) -> Group:
    """One group of ``plan_document`` back as a ``Group``."""
    sites = document.get("sites") or []
    key = document.get("key") or []
    return Group(
        tuple((str(k), str(v)) for k, v in key),  # type: ignore[attr-defined]
        tuple(
            Site(
                tuple((str(k), str(v)) for k, v in site["metadata"]),
                tuple((str(k), str(v)) for k, v in site["files"]),
                tuple((str(k), str(v)) for k, v in site.get("row", [])),
            )
            for site in sites  # type: ignore[attr-defined]
        ),
    )
