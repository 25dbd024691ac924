"""Benchmark tool adapters: one module per tool, pure (no I/O, no subprocess).

Each module has a frozen ``...Spec``, ``build_command(spec) -> list[str]`` and a parser from
the tool's text to a frozen result in base units (seconds, bytes/second, requests/second).
Parsers raise :class:`~exporter.errors.ToolOutputError` for empty, truncated or malformed output
and :class:`~exporter.errors.ToolReportedError` when the tool reports a failure; they never
return a number from an error output. Real outputs they are tested on: tests/fixtures/.
"""
