"""Formulas shipped with gastown-tui (``*.formula.toml``), last on the formula search path.

A package (not just a data directory) so every install, editable or not, carries the files; see
``core.formulas.BUILTIN_DIR``. A town or rig formula of the same name shadows a built-in.
"""
