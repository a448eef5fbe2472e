extern crate std;

use std::vec::Vec;

use super::*;

fn wanting(bit: u8) -> Vec<u32> {
    (0..TABLE_LEN as u32)
        .filter(|&n| interest(i64::from(n)) & bit != 0)
        .collect()
}

fn sorted(calls: &[u32]) -> Vec<u32> {
    let mut v = calls.to_vec();
    v.sort_unstable();
    v
}

#[test]
fn each_problem_wants_its_calls_and_nothing_else() {
    assert_eq!(wanting(want::SEM), sorted(&SEM_CALLS));
    assert_eq!(wanting(want::SIGPIPE), sorted(&SIGPIPE_CALLS));
    assert_eq!(wanting(want::OVERLAY), sorted(&OVERLAY_CALLS));
    // x86_64 numbers, spelled out: a wrong table entry must not hide behind the constants.
    assert_eq!(wanting(want::SEM), [64, 65, 66, 220]);
    assert_eq!(wanting(want::SIGPIPE), [1, 18, 20, 44, 46, 296]);
    assert_eq!(
        wanting(want::OVERLAY),
        [
            2, 9, 76, 77, 82, 85, 86, 90, 91, 92, 93, 94, 132, 188, 189, 190, 197, 198, 199, 235,
            257, 260, 261, 264, 265, 268, 280, 316, 437, 452, 463, 466
        ]
    );
}

#[test]
fn seccomp_wants_every_call() {
    assert_eq!(wanting(want::SECCOMP).len(), TABLE_LEN);
    for nr in [-1, TABLE_LEN as i64, 0x4000_0000] {
        assert_eq!(interest(nr), want::SECCOMP);
    }
    assert_eq!(interest(39), want::SECCOMP); // getpid: nobody else
}

#[test]
fn argument_offsets_stay_in_the_span() {
    let mut seen = REGS_ARG_INDEX;
    seen.sort_unstable();
    assert!(seen.windows(2).all(|w| w[0] != w[1]));
    assert!(
        REGS_ARG_INDEX
            .iter()
            .all(|&i| (i + 1) * 8 <= REGS_ARGS_SPAN.1)
    );
}
