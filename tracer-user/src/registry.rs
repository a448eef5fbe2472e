//! Every problem ctrace knows, in the order the report, the live line and doctor show them.
//! Adding a problem: its folder (with an `entry.rs`), a `Problem` variant, and one line here.

use crate::{overlay, seccomp, sem, shared::Entry, sigpipe, zombie};

pub const ALL: [&Entry; 5] = [
    &seccomp::entry::ENTRY,
    &sem::entry::ENTRY,
    &zombie::entry::ENTRY,
    &sigpipe::entry::ENTRY,
    &overlay::entry::ENTRY,
];

#[cfg(test)]
mod tests {
    use tracer_common::Drop;

    use super::*;
    use crate::problem::Problem;

    #[test]
    fn every_problem_is_registered_once() {
        let mut names: Vec<Problem> = ALL.iter().map(|e| e.problem).collect();
        names.sort();
        assert_eq!(names, Problem::ALL);
    }

    #[test]
    fn every_drop_reason_belongs_to_its_problem() {
        for d in Drop::ALL {
            let owners: Vec<&str> = ALL
                .iter()
                .filter(|e| e.drops.contains(&d))
                .map(|e| e.name())
                .collect();
            // FilterMapFull belongs to the pid filter, which every problem shares.
            let want: Vec<&str> = Some(d.problem())
                .filter(|p| *p != "filter")
                .into_iter()
                .collect();
            assert_eq!(owners, want, "{}", d.name());
        }
    }
}
