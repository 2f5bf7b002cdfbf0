//! Test support shared by the unit tests and the black-box tests in
//! `tests/`: real servers the tests need, started by the tests themselves.
//! Not part of Bouncer's interface.

pub mod postgres;

/// The variable that makes tests needing an installed tool fail rather
/// than skip when the tool is missing; `.ci/run` sets it.
pub const REQUIRE_TOOLS: &str = "BOUNCER_REQUIRE_TOOLS";

/// Whether a missing tool fails the test rather than skipping it: `CI` or
/// [`REQUIRE_TOOLS`] is set to something other than empty, `0` or `false`.
pub fn tools_required() -> bool {
    let flag = |name| std::env::var(name).is_ok_and(|v| !matches!(v.trim(), "" | "0" | "false"));
    flag("CI") || flag(REQUIRE_TOOLS)
}

/// Gives up on a test whose tool is missing (`why` says which, and how to
/// install it): panics where [`tools_required`] (CI installs every tool,
/// so it must not pass by skipping), else prints `skipping: {why}` on
/// stderr and returns, and the caller returns too.
pub fn tool_missing(why: &str) {
    if tools_required() {
        panic!("required in CI (CI or {REQUIRE_TOOLS} is set), but {why}");
    }
    eprintln!("skipping: {why}");
}
