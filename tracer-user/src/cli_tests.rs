use super::*;

fn parse(args: &[&str]) -> Result<Cli, String> {
    Cli::try_parse_from(std::iter::once("ctrace").chain(args.iter().copied()))
        .map_err(|e| e.to_string())
}

#[test]
fn zero_and_negative_values_are_refused_with_their_reason() {
    for (args, why) in [
        (&["trace", "--interval", "0"][..], "at least 100ms"),
        (&["trace", "--interval", "-1s"][..], "--interval"),
        (&["serve", "--interval", "0s"][..], "at least 100ms"),
        (&["trace", "--interval", "1ns"][..], "at least 100ms"),
        (&["serve", "--interval", "99ms"][..], "at least 100ms"),
        (&["trace", "--pid", "-5"][..], "a pid is a positive number"),
        (&["trace", "--pid", "0"][..], "a pid is a positive number"),
        (&["bench", "seccomp", "--iterations", "0"][..], "1.."),
        (&["bench", "seccomp", "--runs", "0"][..], "at least 1"),
        (&["bench", "overhead", "--runs", "0"][..], "at least 1"),
        (
            &["bench", "overhead", "--storm-secs", "-1"][..],
            "0 or more",
        ),
        (
            &["trace", "--comm", "a-very-long-command-name"][..],
            "1 to 15 bytes",
        ),
    ] {
        let err = parse(args).map(|_| ()).unwrap_err();
        assert!(err.contains(why), "{args:?}: {err}");
    }
}

#[test]
fn a_65th_comm_is_refused_before_the_kernel_sees_it() {
    let mut args = vec!["trace"];
    let names: Vec<String> = (0..65).map(|i| format!("c{i}")).collect();
    for n in &names {
        args.extend(["--comm", n]);
    }
    let Cmd::Trace(t) = parse(&args).unwrap().cmd else {
        panic!("not trace")
    };
    assert!(t.check().unwrap_err().0.contains("at most 64"));
}

#[test]
fn serve_help_describes_serve() {
    use clap::CommandFactory as _;
    let mut cmd = Cli::command();
    let help = cmd
        .find_subcommand_mut("serve")
        .unwrap()
        .render_help()
        .to_string();
    assert!(help.contains("Rebuild the report"), "{help}");
    assert!(!help.contains("--json"), "{help}");
    assert!(!help.contains("live summary line"), "{help}");
}
