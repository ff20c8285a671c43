//! Application-size programs built on stealpool, kept out of the library's own build. They
//! are this crate's examples (`apps/examples/`), with their integration tests in
//! `apps/tests/`; the crate itself holds nothing.
