"""What a CellProfiler ``.cppipe`` declares, and how to judge a headless run. Pure.

CellProfiler 4.2 can exit 0 on a pipeline it only partly read (it logs
"Failed to load pipeline" and runs the modules parsed so far), so a run is
judged on three things: the exit code, the log and the expected outputs.
Python 3.8-compatible (the Batch container imports it).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

HEADER = "CellProfiler Pipeline"
MODULE_LINE = re.compile(
    r"^(?P<name>[A-Za-z][A-Za-z0-9_]*):\[module_num:(?P<num>\d+)\|(?P<attrs>.*)\]\s*$"
)
SETTING_LINE = re.compile(r"^\s+(?P<name>[^:]+):(?P<value>.*)$")
LOAD_FAILURE = "Failed to load pipeline"
IMAGE_SUFFIXES = (
    ".tif", ".tiff", ".png", ".jpg", ".jpeg", ".bmp", ".gif", ".jp2",
    ".c01", ".dib", ".flex", ".nd2", ".czi", ".lif", ".lsm", ".ome.tif", ".ome.tiff",
)  # fmt: skip
SIMPLE_RULE = re.compile(
    r'^and \(file does (?P<op>contain|eq|startwith|endwith|containregexp) "(?P<text>[^"]*)"\)$'
)


@dataclass(frozen=True)
class Module:
    name: str
    number: int
    enabled: bool
    settings: tuple[tuple[str, str], ...]

    def values(self, setting: str) -> list[str]:
        return [value for name, value in self.settings if name == setting]

    def value(self, setting: str, default: str = "") -> str:
        found = self.values(setting)
        return found[0] if found else default


@dataclass(frozen=True)
class Assignment:
    """One NamesAndTypes assignment: a rule picking files and the name it gives them."""

    name: str
    rule: str
    image_type: str

    @property
    def is_illumination(self) -> bool:
        return self.image_type == "Illumination function"


@dataclass(frozen=True)
class PipelineInfo:
    has_header: bool
    declared_modules: int | None
    modules: tuple[Module, ...]
    unparsed_lines: tuple[str, ...]

    @property
    def module_names(self) -> list[str]:
        return [m.name for m in self.modules]

    def enabled(self, name: str) -> list[Module]:
        return [m for m in self.modules if m.name == name and m.enabled]


def inspect_pipeline(text: str) -> PipelineInfo:
    """Parse a ``.cppipe`` (text format, version 5) into its modules and settings.

    >>> info = inspect_pipeline(EXAMPLE)
    >>> info.declared_modules, info.module_names
    (3, ['Images', 'NamesAndTypes', 'ExportToSpreadsheet'])
    """
    lines = text.splitlines()
    has_header = bool(lines) and lines[0].startswith(HEADER)
    declared: int | None = None
    modules: list[Module] = []
    unparsed: list[str] = []
    for line in lines[1:]:
        if not modules and line.startswith("ModuleCount:"):
            declared = _int_or_none(line.split(":", 1)[1])
            continue
        module = MODULE_LINE.match(line)
        setting = SETTING_LINE.match(line)
        if module:
            enabled = "enabled:False" not in module["attrs"]
            modules.append(Module(module["name"], int(module["num"]), enabled, ()))
        elif setting and modules:
            modules[-1] = _with_setting(modules[-1], setting["name"].strip(), setting["value"])
        elif line.strip() and modules:
            unparsed.append(line)
    return PipelineInfo(has_header, declared, tuple(modules), tuple(unparsed))


def _int_or_none(text: str) -> int | None:
    try:
        return int(text.strip())
    except ValueError:
        return None


def _with_setting(module: Module, name: str, value: str) -> Module:
    return Module(module.name, module.number, module.enabled, (*module.settings, (name, value)))


def pipeline_problems(info: PipelineInfo) -> list[str]:
    """Reasons a pipeline cannot run as written, found without CellProfiler.

    Catches a file that is not a pipeline and a truncated one (fewer modules than
    its header declares). A misspelt module name is only found by CellProfiler.
    """
    problems = []
    if not info.has_header:
        problems.append(f"the pipeline does not start with {HEADER!r} (is it a .cppipe?)")
    elif not info.modules:
        problems.append("the pipeline has no modules")
    if info.declared_modules is not None and info.declared_modules != len(info.modules):
        problems.append(
            f"the pipeline declares {info.declared_modules} modules but "
            f"{len(info.modules)} could be read (truncated or malformed?)"
        )
    if info.unparsed_lines:
        problems.append(
            f"the pipeline has unreadable lines, first: {info.unparsed_lines[0][:80]!r}"
        )
    return problems


def expected_outputs(info: PipelineInfo) -> list[str]:
    """CSV files the pipeline's enabled ExportToSpreadsheet modules must write.

    >>> expected_outputs(inspect_pipeline(EXAMPLE))
    ['Image.csv', 'Nuclei.csv']
    """
    expected: list[str] = []
    for module in info.enabled("ExportToSpreadsheet"):
        prefix = ""
        if module.value("Add a prefix to file names?") == "Yes":
            prefix = module.value("Filename prefix")
        if module.value("Export all measurement types?") == "Yes":
            expected.append(prefix + "Image.csv")
            continue
        expected += [prefix + name for name in _exported_files(module)]
    return sorted(set(expected))


def _exported_files(module: Module) -> list[str]:
    objects = module.values("Data to export")
    names = module.values("File name")
    use_object = module.values("Use the object name for the file name?")
    files = []
    for index, data in enumerate(objects):
        if data in ("Do not use", "None", ""):
            continue
        by_object = index >= len(use_object) or use_object[index] == "Yes"
        files.append(data + ".csv" if by_object or index >= len(names) else names[index])
    return files


def assignments(info: PipelineInfo) -> list[Assignment]:
    """NamesAndTypes's rule-based assignments, in order."""
    found: list[Assignment] = []
    for module in info.enabled("NamesAndTypes"):
        if module.value("Assign a name to") not in ("Images matching rules", ""):
            continue
        rules = module.values("Select the rule criteria")
        names = module.values("Name to assign these images")[
            1:
        ]  # the first is the single-image name
        types = module.values("Select the image type")[1:]
        for index in range(min(len(rules), len(names), len(types))):
            found.append(Assignment(names[index], rules[index], types[index]))
    return found


def rule_matches(rule: str, file_name: str) -> bool | None:
    """Does a simple NamesAndTypes file rule pick ``file_name``? ``None``: too complex to say.

    >>> rule_matches('and (file does contain "Channel 1")', "Channel 1-01-A-01-00.tif")
    True
    >>> rule_matches('or (file does contain "a") (file does contain "b")', "a.tif") is None
    True
    """
    match = SIMPLE_RULE.match(rule.strip())
    if match is None:
        return None
    op, text = match["op"], match["text"]
    if op == "contain":
        return text in file_name
    if op == "eq":
        return file_name == text
    if op == "startwith":
        return file_name.startswith(text)
    if op == "endwith":
        return file_name.endswith(text)
    return re.search(text, file_name) is not None


def is_image(file_name: str) -> bool:
    return file_name.lower().endswith(IMAGE_SUFFIXES)


def estimate_image_sets(info: PipelineInfo, file_names: list[str]) -> int | None:
    """How many image sets CellProfiler will make, when the rules are simple enough to say.

    Each image set takes one file per channel, so the count is the smallest
    number of files any (non-illumination) channel rule picks. ``None`` when a
    rule is too complex to evaluate here or nothing matches.

    >>> estimate_image_sets(inspect_pipeline(EXAMPLE), ["d0a.tif", "d0b.tif", "d1a.tif"])
    1
    """
    channels = [a for a in assignments(info) if not a.is_illumination]
    if not channels:
        return None
    counts = []
    for channel in channels:
        picked = [rule_matches(channel.rule, name) for name in file_names]
        if any(p is None for p in picked):
            return None
        counts.append(sum(1 for p in picked if p))
    smallest = min(counts)
    return smallest or None


def load_failure(log_text: str) -> str | None:
    """The reason a headless run failed to load its pipeline, from its log, or ``None``.

    >>> load_failure("MySQL could not be loaded.\\nFailed to load pipeline\\nTraceback ...\\n"
    ...              "ValueError: Could not find the IdentifySecondaryObjectz module\\nTimes ...")
    'Failed to load pipeline: ValueError: Could not find the IdentifySecondaryObjectz module'
    """
    lines = log_text.splitlines()
    for number, line in enumerate(lines):
        if LOAD_FAILURE in line:
            error = next(
                (
                    later
                    for later in lines[number + 1 :]
                    if re.match(r"^\w+(Error|Exception)\b", later)
                ),
                "",
            )
            return f"{LOAD_FAILURE}: {error}" if error else LOAD_FAILURE
    return None


def missing_outputs(expected: list[str], produced: list[str]) -> list[str]:
    """Expected file names that are not among the produced relative paths."""
    names = {path.rsplit("/", 1)[-1] for path in produced}
    return [name for name in expected if name not in names]


EXAMPLE = """CellProfiler Pipeline: http://www.cellprofiler.org
Version:5
ModuleCount:3

Images:[module_num:1|svn_version:'Unknown'|enabled:True|wants_pause:False]
    :
    Filter images?:Images only

NamesAndTypes:[module_num:2|svn_version:'Unknown'|enabled:True|wants_pause:False]
    Assign a name to:Images matching rules
    Select the image type:Grayscale image
    Name to assign these images:DNA
    Select the rule criteria:and (file does contain "d0")
    Name to assign these images:DNA
    Select the image type:Grayscale image
    Select the rule criteria:and (file does contain "d1")
    Name to assign these images:PH3
    Select the image type:Grayscale image

ExportToSpreadsheet:[module_num:3|svn_version:'Unknown'|enabled:True|wants_pause:False]
    Export all measurement types?:No
    Add a prefix to file names?:No
    Filename prefix:MyExpt_
    Data to export:Image
    File name:Image.csv
    Use the object name for the file name?:Yes
    Data to export:Nuclei
    File name:DATA.csv
    Use the object name for the file name?:Yes
"""
