//! placeholder: see docs/CONVENTIONS.md (owned by the CMTrace helper)
