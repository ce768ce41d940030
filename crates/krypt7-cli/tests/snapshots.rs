//! CLI behaviour pinned with trycmd: every `tests/cmd/*.toml` case runs the real binary and
//! compares its exit code, standard output and standard error with the recorded ones.
//! (Cases that need a server live in `tests/cli/`.)

#[test]
fn cli_snapshots() {
    trycmd::TestCases::new().case("tests/cmd/*.toml");
}
