//! Compile-fail cases live in `cases/`; the runner is `tests/ui.rs`.
