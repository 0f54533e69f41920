"""BigQuery's own SQL front end, offline: ZetaSQL (PyPI `zetasql` 0.1.5) as WebAssembly.

`check_statements(statements, catalog)` analyzes BigQuery statements in order against a
catalog of typed tables, adds each CREATE's output to the catalog for the statements after it,
and applies the DDL rules ZetaSQL leaves to the product (table partitioning and clustering).
It returns one `Finding` per statement; `failures(findings)` keeps the ones that would not run.

Why not the package's own `ZetaSqlLocalService`: it compiles the 32 MB module on every start
(~40 s, ~1.1 GB) and copies memory one byte at a time through ctypes indexing. Here the
compiled module is serialized once to a cache folder outside the repository
(`$ECOM_ZETASQL_CACHE`, default `~/.cache/ecom-growth/zetasql`; a start from it takes ~0.2 s),
memory is copied with `ctypes.memmove`, and the service is a process-wide singleton, so a test
session compiles at most once. The request and response messages are the package's generated
protobuf modules (`zetasql.wasi._pb2`), the exported functions those its client calls.

Setup that matters (DESIGN.md): language options from GetLanguageOptions(maximum_features),
a superset of BigQuery's, with product mode EXTERNAL (else FLOAT64 is "DOUBLE" and INT32 is
accepted) and no restriction on statement kinds (so CREATE statements are analyzed); the same
options for the catalog's built-in functions (else it has none).
"""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import functools
import hashlib
import os
import platform
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import polars as pl

# ---- the WebAssembly service -------------------------------------------------------------------

CACHE_DIR = Path(
    os.environ.get("ECOM_ZETASQL_CACHE", Path.home() / ".cache" / "ecom-growth" / "zetasql")
)
_SIZE_T = 4  # wasm32


class AnalyzerUnavailable(RuntimeError):
    """The zetasql or wasmtime package is missing (tests skip outside CI, fail under CI)."""


class ZetaSQLError(Exception):
    """ZetaSQL refused a request; the message is the analyzer's own."""


def _wasm_path() -> Path:
    try:
        from zetasql.wasi import get_wasm_path
    except ImportError as err:
        raise AnalyzerUnavailable(f"zetasql is not installed ({err}): run `make setup`") from err
    return Path(get_wasm_path())


def _engine() -> Any:
    from wasmtime import Config, Engine

    config = Config()
    # The module imports a shared memory (it is built with threads); the setting must match
    # between the compile that wrote the cache and the engine that reads it.
    with contextlib.suppress(AttributeError):
        config.shared_memory = True
    return Engine(config)


def _cache_file(wasm: Path) -> Path:
    """One file per (module bytes, wasmtime release, machine): a stale cache is never read."""
    import wasmtime

    digest = hashlib.sha256(wasm.read_bytes()).hexdigest()[:16]
    version = getattr(wasmtime, "__version__", None) or _dist_version("wasmtime")
    return CACHE_DIR / f"zetasql-{digest}-wasmtime{version}-{platform.machine()}.cwasm"


def _dist_version(name: str) -> str:
    from importlib.metadata import version

    return version(name)


def _module(engine: Any, wasm: Path) -> Any:
    """The compiled module: deserialized from the cache, else compiled once and cached.

    A file lock makes concurrent test processes wait for one compile instead of each paying
    ~40 s and ~1.1 GB; the cache file is written whole (temp file, then rename)."""
    from wasmtime import Module

    cached = _cache_file(wasm)
    cached.parent.mkdir(parents=True, exist_ok=True)
    with open(cached.with_suffix(".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if cached.exists():
            try:
                return Module.deserialize_file(engine, str(cached))
            except Exception:  # truncated or from an incompatible build: compile again
                cached.unlink(missing_ok=True)
        module = Module.from_file(engine, str(wasm))
        partial = cached.with_suffix(f".{os.getpid()}.tmp")
        partial.write_bytes(module.serialize())
        os.replace(partial, cached)
        return module


class Service:
    """ZetaSQL's local service in this process: one wasm instance, its exported RPCs."""

    def __init__(self) -> None:
        from wasmtime import Linker, Store, WasiConfig

        wasm = _wasm_path()
        engine = _engine()
        module = _module(engine, wasm)
        wasi = WasiConfig()
        wasi.inherit_stderr()
        with contextlib.suppress(ImportError):
            import tzdata

            wasi.preopen_dir(str(Path(tzdata.__file__).parent / "zoneinfo"), "/usr/share/zoneinfo")
        self.store = Store(engine)
        self.store.set_wasi(wasi)
        linker = Linker(engine)
        linker.define_wasi()
        instance = linker.instantiate(self.store, module)
        self.exports = instance.exports(self.store)
        with contextlib.suppress(KeyError):
            self.exports["_initialize"](self.store)
        self.memory = self.exports["memory"]

    def _base(self) -> int:
        """Address of linear memory now (it moves when memory grows)."""
        from wasmtime import SharedMemory

        if isinstance(self.memory, SharedMemory):
            pointer = self.memory.data_ptr()  # takes no store argument
        else:
            pointer = self.memory.data_ptr(self.store)
        return ctypes.addressof(pointer.contents)

    def _malloc(self, size: int) -> int:
        return self.exports["wasm_malloc"](self.store, max(size, 1))

    def _free(self, address: int) -> None:
        self.exports["wasm_free"](self.store, address)

    def call(self, method: str, request: Any, response_type: type) -> Any:
        """One RPC: serialize the request into wasm memory, call, parse the response."""
        data = request.SerializeToString()
        request_at = self._malloc(len(data))
        size_at = self._malloc(_SIZE_T)
        try:
            ctypes.memmove(self._base() + request_at, data, len(data))
            response_at = self.exports[f"ZetaSqlLocalService_{method}"](
                self.store, request_at, len(data), size_at
            )
            if response_at == 0:
                raise ZetaSQLError(self._last_error())
            size = int.from_bytes(ctypes.string_at(self._base() + size_at, _SIZE_T), "little")
            payload = ctypes.string_at(self._base() + response_at, size)
            self._free(response_at)
        finally:
            self._free(request_at)
            self._free(size_at)
        return response_type.FromString(payload)

    def _last_error(self) -> str:
        size = self.exports["wasm_get_last_error_size"](self.store)
        if not size:
            return "unknown ZetaSQL error"
        at = self.exports["wasm_get_last_error"](self.store)
        text = ctypes.string_at(self._base() + at, size).decode("utf-8", errors="replace")
        # "Code: 3, Message: <message> [at 1:8]" -> the message and its position
        return re.sub(r"^(Code: \d+, Message: |\w+::\w+: )", "", text)


@functools.cache
def service() -> Service:
    """The process-wide service (so a test session compiles or deserializes it once)."""
    return Service()


# ---- protobuf helpers --------------------------------------------------------------------------


def _pb() -> Any:
    """The generated modules, imported on first use (they are only in the dev environment)."""
    from zetasql.wasi._pb2.zetasql.local_service import local_service_pb2
    from zetasql.wasi._pb2.zetasql.proto import options_pb2, simple_catalog_pb2
    from zetasql.wasi._pb2.zetasql.public import (
        options_pb2 as public_options_pb2,
    )
    from zetasql.wasi._pb2.zetasql.public import (
        parse_resume_location_pb2,
        simple_table_pb2,
        type_pb2,
    )

    class PB:
        local = local_service_pb2
        options = options_pb2
        public_options = public_options_pb2
        catalog = simple_catalog_pb2
        table = simple_table_pb2
        types = type_pb2
        resume = parse_resume_location_pb2

    return PB


@functools.cache
def language_options() -> Any:
    """Maximum features (a superset of BigQuery's), EXTERNAL product mode, every statement."""
    pb = _pb()
    options = service().call(
        "GetLanguageOptions",
        pb.local.LanguageOptionsRequest(maximum_features=True),
        pb.options.LanguageOptionsProto,
    )
    options.product_mode = pb.public_options.PRODUCT_EXTERNAL
    del options.supported_statement_kinds[:]  # empty = every kind, CREATE included
    return options


def _analyzer_options() -> Any:
    pb = _pb()
    options = pb.options.AnalyzerOptionsProto()
    options.language_options.CopyFrom(language_options())
    options.default_timezone = "UTC"
    options.allow_undeclared_parameters = True  # @parameters of the Python-built queries
    options.prune_unused_columns = True  # table scans list only the columns read (bytes)
    options.error_message_mode = pb.public_options.ERROR_MESSAGE_ONE_LINE
    return options


def _unwrap(message: Any) -> Any:
    """Descend an Any*Proto wrapper (a oneof of node kinds) to the concrete node."""
    while True:
        fields = message.ListFields()
        if len(fields) == 1 and fields[0][0].name.endswith("_node"):
            message = fields[0][1]
            continue
        return message


def _node_kind(message: Any) -> str:
    """'ResolvedCreateTableAsSelectStmt' for that node."""
    return message.DESCRIPTOR.name.removesuffix("Proto")


def _find(node: Any, name: str) -> Any | None:
    """A field of the node or of its `parent` chain (fields live on the base classes)."""
    while node is not None:
        if name in node.DESCRIPTOR.fields_by_name:
            return getattr(node, name)
        node = node.parent if "parent" in node.DESCRIPTOR.fields_by_name else None
    return None


# ---- the catalog -------------------------------------------------------------------------------

# BigQuery column types by name, as ZetaSQL TypeKinds.
_TYPE_KINDS = {
    "INT64": "TYPE_INT64",
    "FLOAT64": "TYPE_DOUBLE",
    "NUMERIC": "TYPE_NUMERIC",
    "BIGNUMERIC": "TYPE_BIGNUMERIC",
    "BOOL": "TYPE_BOOL",
    "STRING": "TYPE_STRING",
    "BYTES": "TYPE_BYTES",
    "DATE": "TYPE_DATE",
    "DATETIME": "TYPE_DATETIME",
    "TIME": "TYPE_TIME",
    "TIMESTAMP": "TYPE_TIMESTAMP",
    "JSON": "TYPE_JSON",
    "GEOGRAPHY": "TYPE_GEOGRAPHY",
}
_POLARS_TYPES = {
    pl.Int64: "INT64",
    pl.Int32: "INT64",
    pl.Float64: "FLOAT64",
    pl.Boolean: "BOOL",
    pl.String: "STRING",
    pl.Date: "DATE",
    pl.Datetime: "TIMESTAMP",
}
# BigQuery's clusterable column types (its docs); FLOAT64, ARRAY, STRUCT, JSON, BYTES are not.
CLUSTERABLE = frozenset(
    {"TYPE_INT64", "TYPE_STRING", "TYPE_BOOL", "TYPE_DATE", "TYPE_DATETIME", "TYPE_TIMESTAMP"}
    | {"TYPE_NUMERIC", "TYPE_BIGNUMERIC", "TYPE_GEOGRAPHY", "TYPE_RANGE"}
)
MAX_CLUSTER_COLUMNS = 4


def polars_columns(schema: pl.Schema | Mapping[str, Any]) -> dict[str, str]:
    """A Polars contract (pipeline.schema) as BigQuery column types."""
    return {name: _POLARS_TYPES[dtype.base_type()] for name, dtype in dict(schema).items()}


@dataclass
class Catalog:
    """Tables by full BigQuery path (project, dataset, table) with typed columns.

    Registered as nested catalogs (`project`.`dataset`.`table`, as dbt quotes names) and as
    one dotted name (`project.dataset.table`, as the Python side quotes them)."""

    project: str
    tables: dict[tuple[str, ...], dict[str, str]] = field(default_factory=dict)
    # Persistent SQL functions a CREATE FUNCTION defined: path -> its resolved signature.
    functions: dict[tuple[str, ...], Any] = field(default_factory=dict)

    def add(self, path: Sequence[str], columns: Mapping[str, str]) -> None:
        if len(path) == 2:
            path = (self.project, *path)
        self.tables[tuple(path)] = {name: kind.upper() for name, kind in columns.items()}

    def columns(self, path: Sequence[str]) -> dict[str, str] | None:
        if len(path) == 2:
            path = (self.project, *path)
        return self.tables.get(tuple(path))

    def proto(self) -> Any:
        pb = _pb()
        root = pb.catalog.SimpleCatalogProto(name="bigquery")
        root.builtin_function_options.language_options.CopyFrom(language_options())
        nested: dict[tuple[str, ...], Any] = {}

        def sub(path: tuple[str, ...]) -> Any:
            if not path:
                return root
            if path not in nested:
                nested[path] = sub(path[:-1]).catalog.add(name=path[-1])
            return nested[path]

        for path, columns in sorted(self.tables.items()):
            for owner, name in ((sub(path[:-1]), path[-1]), (root, ".".join(path))):
                table = owner.table.add(name=name, full_name=".".join(path))
                for column, kind in columns.items():
                    table.column.add(
                        name=column,
                        type=pb.types.TypeProto(
                            type_kind=pb.types.TypeKind.Value(_TYPE_KINDS[kind])
                        ),
                    )
        for path, signature in sorted(self.functions.items()):
            for owner, name in ((sub(path[:-1]), path[-1]), (root, ".".join(path))):
                function = owner.custom_function.add(name_path=[name], group="UDF", mode=1)
                function.signature.add().CopyFrom(signature)
        return root


# ---- analysis ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Finding:
    """One statement's verdict: `error` is None when BigQuery's analyzer and DDL rules accept it."""

    label: str
    sql: str
    kind: str | None  # resolved node kind, e.g. ResolvedCreateTableAsSelectStmt
    error: str | None
    creates: tuple[str, ...] | None = None  # the table path a CREATE defines


def failures(findings: Iterable[Finding]) -> list[Finding]:
    return [f for f in findings if f.error is not None]


def describe(findings: Iterable[Finding]) -> str:
    """The failures as a readable report (for assertion messages)."""
    return "\n\n".join(
        f"{f.label}: {f.error}\n  {_excerpt(f.sql, f.error)}" for f in failures(findings)
    )


def _excerpt(sql: str, error: str | None) -> str:
    found = re.search(r"\[at (\d+):(\d+)\]", error or "")
    if not found:
        return sql.strip()[:300]
    line = sql.splitlines()[int(found.group(1)) - 1] if sql.splitlines() else ""
    return f"line {found.group(1)}: {line.strip()[:200]}"


class Analyzer:
    """Analyzes statements against a catalog that grows with each CREATE it accepts."""

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog
        self._registered: int | None = None

    def _catalog_id(self) -> int:
        if self._registered is None:
            pb = _pb()
            request = pb.local.RegisterCatalogRequest(simple_catalog=self.catalog.proto())
            self._registered = (
                service().call("RegisterCatalog", request, pb.local.RegisterResponse).registered_id
            )
        return self._registered

    def _changed(self) -> None:
        if self._registered is not None:
            pb = _pb()
            with contextlib.suppress(ZetaSQLError):
                service().call(
                    "UnregisterCatalog",
                    pb.local.UnregisterRequest(registered_id=self._registered),
                    _empty(),
                )
            self._registered = None

    def close(self) -> None:
        self._changed()

    def analyze(self, label: str, sql: str) -> list[Finding]:
        """Every statement of `sql` (a script is analyzed statement by statement)."""
        pb = _pb()
        findings = []
        position = 0
        while _has_statement(sql, position):
            request = pb.local.AnalyzeRequest(
                options=_analyzer_options(),
                registered_catalog_id=self._catalog_id(),
                parse_resume_location=pb.resume.ParseResumeLocationProto(
                    input=sql, byte_position=position, allow_resume=True
                ),
            )
            try:
                response = service().call("Analyze", request, pb.local.AnalyzeResponse)
            except ZetaSQLError as err:
                findings.append(Finding(label, sql, None, str(err)))
                break  # the rest of a script cannot be located after an error
            position = response.resume_byte_position
            findings.append(self._resolved(label, sql, _unwrap(response.resolved_statement)))
        if len(findings) > 1:
            findings = [replace(f, label=f"{label} #{n}") for n, f in enumerate(findings, 1)]
        return findings

    def _resolved(self, label: str, sql: str, node: Any) -> Finding:
        kind = _node_kind(node)
        problems = ddl_problems(node)
        creates = None
        if kind in ("ResolvedCreateTableAsSelectStmt", "ResolvedCreateTableStmt") or kind in (
            "ResolvedCreateViewStmt",
            "ResolvedCreateMaterializedViewStmt",
        ):
            creates = tuple(_find(node, "name_path"))
            if not problems:
                self.catalog.add(creates, _output_columns(node))
                self._changed()
        elif kind == "ResolvedCreateFunctionStmt":
            # Later statements call it (the SQL scorer's predict_abandonment): known from now on.
            path = tuple(_find(node, "name_path"))
            path = (self.catalog.project, *path) if len(path) == 2 else path
            if len(path) == 1 and "." in path[0]:
                path = tuple(path[0].split("."))
            self.catalog.functions[path] = node.signature
            self._changed()
        return Finding(label, sql, kind, "; ".join(problems) or None, creates)


def _empty() -> type:
    from google.protobuf import empty_pb2

    return empty_pb2.Empty


def _strip_comments(sql: str) -> str:
    return re.sub(r"--[^\n]*|/\*.*?\*/", lambda m: " " * len(m.group(0)), sql, flags=re.S)


def _has_statement(sql: str, position: int) -> bool:
    """Anything but blanks, semicolons and comments left from `position` (in UTF-8 bytes)."""
    rest = sql.encode()[position:].decode(errors="ignore")
    return bool(_strip_comments(rest).strip(" \t\r\n;"))


def _type_name(type_proto: Any) -> str:
    pb = _pb()
    return pb.types.TypeKind.Name(type_proto.type_kind)


def _output_columns(node: Any) -> dict[str, str]:
    """Name -> BigQuery type of what a CREATE defines (column definitions or the query's
    output columns)."""
    kinds = {value: key for key, value in _TYPE_KINDS.items()}
    definitions = _find(node, "column_definition_list")
    if definitions:
        return {c.name: kinds.get(_type_name(c.type), _type_name(c.type)) for c in definitions}
    outputs = _find(node, "output_column_list") or []
    return {
        c.name: kinds.get(_type_name(c.column.type), _type_name(c.column.type)) for c in outputs
    }


# ---- BigQuery's DDL rules on the resolved tree -------------------------------------------------

TIMESTAMP_TRUNC_PARTS = frozenset({"DAY", "HOUR", "MONTH", "YEAR"})
DATE_TRUNC_PARTS = frozenset({"MONTH", "YEAR"})


def ddl_problems(node: Any) -> list[str]:
    """What BigQuery refuses in a CREATE TABLE's PARTITION BY / CLUSTER BY that ZetaSQL
    accepts (it leaves partitioning rules to the product): one partition expression, a DATE
    column, DATE(ts), TIMESTAMP_TRUNC/DATETIME_TRUNC(ts, DAY|HOUR|MONTH|YEAR),
    DATE_TRUNC(date, MONTH|YEAR) or RANGE_BUCKET(int64, GENERATE_ARRAY(...)); at most four
    clustering columns, each a plain column of a clusterable type (no FLOAT64)."""
    problems = []
    partition = list(_find(node, "partition_by_list") or [])
    cluster = list(_find(node, "cluster_by_list") or [])
    if len(partition) > 1:
        problems.append(f"PARTITION BY takes one expression, got {len(partition)}")
    for expression in partition:
        if reason := _partition_problem(_unwrap(expression)):
            problems.append(f"PARTITION BY {reason}")
    if len(cluster) > MAX_CLUSTER_COLUMNS:
        problems.append(
            f"CLUSTER BY takes at most {MAX_CLUSTER_COLUMNS} columns, got {len(cluster)}"
        )
    for expression in cluster:
        expr = _unwrap(expression)
        if _node_kind(expr) != "ResolvedColumnRef":
            problems.append("CLUSTER BY must name top-level columns, not expressions")
            continue
        kind = _type_name(expr.column.type)
        if kind not in CLUSTERABLE:
            problems.append(
                f"CLUSTER BY column {expr.column.name} has type {kind.removeprefix('TYPE_')}, "
                "which BigQuery cannot cluster on (no FLOAT64, ARRAY, STRUCT, JSON or BYTES)"
            )
    return problems


def _expr_type(expr: Any) -> str:
    return _type_name(_find(expr, "type"))


def _partition_problem(expr: Any) -> str | None:
    kind = _node_kind(expr)
    if kind == "ResolvedColumnRef":
        if _expr_type(expr) == "TYPE_DATE":
            return None
        return (
            f"column {expr.column.name} of type {_expr_type(expr).removeprefix('TYPE_')}: BigQuery "
            "partitions by a DATE column, DATE(ts), TIMESTAMP_TRUNC(ts, DAY|HOUR|MONTH|YEAR) or "
            "RANGE_BUCKET(int64, GENERATE_ARRAY(...))"
        )
    if kind != "ResolvedFunctionCall":
        return f"a {kind.removeprefix('Resolved')} is not a partitioning expression"
    name = _find(expr, "function").name.split(":")[-1].lower()
    arguments = [_unwrap(a) for a in _find(expr, "argument_list")]
    column_types = [_expr_type(a) for a in arguments if _node_kind(a) == "ResolvedColumnRef"]
    if (
        name == "date"
        and len(arguments) == 1
        and column_types in (["TYPE_TIMESTAMP"], ["TYPE_DATETIME"])
    ):
        return None
    if name in ("timestamp_trunc", "datetime_trunc", "date_trunc") and len(arguments) >= 2:
        part = _date_part(arguments[1])
        allowed = DATE_TRUNC_PARTS if name == "date_trunc" else TIMESTAMP_TRUNC_PARTS
        if column_types[:1] and part in allowed:
            return None
        return f"{name.upper()}(..., {part}): only {'|'.join(sorted(allowed))} of a column"
    if name == "range_bucket" and column_types[:1] == ["TYPE_INT64"]:
        return None
    return f"{name.upper()}(...) of {column_types or 'no column'} is not a BigQuery partitioning"


def _date_part(literal: Any) -> str:
    """The DAY of TIMESTAMP_TRUNC(ts, DAY): an enum literal in the resolved tree."""
    value = _find(literal, "value")
    if value is None:
        return "?"
    number = value.value.enum_value
    from zetasql.wasi._pb2.zetasql.public.functions import datetime_pb2

    return datetime_pb2.DateTimestampPart.Name(number)


# ---- the one entry point ----------------------------------------------------------------------


def check_statements(statements: Iterable[tuple[str, str]], catalog: Catalog) -> list[Finding]:
    """Analyze (label, sql) pairs in order; each accepted CREATE feeds the statements after it."""
    analyzer = Analyzer(catalog)
    try:
        return [finding for label, sql in statements for finding in analyzer.analyze(label, sql)]
    finally:
        analyzer.close()


@contextlib.contextmanager
def analyzer(catalog: Catalog) -> Iterator[Analyzer]:
    """An Analyzer for several calls that share a growing catalog."""
    instance = Analyzer(catalog)
    try:
        yield instance
    finally:
        instance.close()


def parse_only(sql: str) -> str | None:
    """Syntax check only (for statements the analyzer cannot resolve, e.g. BigQuery ML's
    table functions, which are not in ZetaSQL's open-source catalog): None when it parses."""
    pb = _pb()
    options = pb.local.ParseRequest(sql_statement=sql, options=pb.options.LanguageOptionsProto())
    options.options.CopyFrom(language_options())
    try:
        service().call("Parse", options, pb.local.ParseResponse)
    except ZetaSQLError as err:
        return str(err)
    return None


__all__ = [
    "CACHE_DIR",
    "AnalyzerUnavailable",
    "Catalog",
    "Finding",
    "analyzer",
    "check_statements",
    "ddl_problems",
    "describe",
    "failures",
    "parse_only",
    "polars_columns",
    "service",
]
