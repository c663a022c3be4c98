//! Cluster tests: real `ucoauth serve` processes on loopback ports sharing one database. Each
//! scenario that makes sense on both engines runs twice (`<scenario>::sqlite` with one node,
//! `<scenario>::postgres` with three); PostgreSQL comes from `UCOAUTH_TEST_POSTGRES` or a
//! private throwaway cluster (see `ucoauth_testkit`). One test binary, like `tests/api`.

mod harness;

mod faults;
mod multinode;
mod races;
