//! Test support shared by the unit tests and the black-box tests in
//! `tests/`: real servers the tests need, started by the tests themselves.
//! Not part of Bouncer's interface.

pub mod postgres;
