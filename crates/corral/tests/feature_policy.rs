//! The suite's rule for host features (tests/common/feature.rs): present runs, missing
//! skips outside CI, fails under CI=true unless CORRAL_TEST_ABSENT lists it.

#[path = "common/feature.rs"]
mod feature;

use feature::{decide, Decision, FEATURES};

#[test]
fn a_present_feature_runs_everywhere() {
    for (name, _) in FEATURES {
        for ci in [false, true] {
            for absent in ["", "sshd", name, "uid-switch, pty"] {
                assert_eq!(decide(name, None, ci, absent), Decision::Run, "{name}, ci={ci}, absent={absent:?}");
            }
        }
    }
}

#[test]
fn outside_ci_a_missing_feature_skips_with_its_reason() {
    let d = decide("sshd", Some("/usr/sbin/sshd is not installed"), false, "");
    assert_eq!(d, Decision::Skip("sshd unavailable: /usr/sbin/sshd is not installed".into()));
    // The absent list changes nothing outside CI.
    let d = decide("cgroup-v2", Some("read-only /sys/fs/cgroup"), false, "cgroup-v2");
    assert!(
        matches!(&d, Decision::Skip(m) if m.starts_with("cgroup-v2 unavailable: read-only /sys/fs/cgroup")),
        "{d:?}"
    );
}

#[test]
fn under_ci_a_missing_feature_fails_unless_declared_absent() {
    let d = decide("uid-switch", Some("not running as root"), true, "");
    match d {
        Decision::Fail(m) => {
            assert!(m.contains("uid-switch unavailable: not running as root"), "{m}");
            assert!(m.contains("CORRAL_TEST_ABSENT"), "the message says how to skip on purpose: {m}");
        }
        other => panic!("{other:?}"),
    }
    // Another feature declared absent does not cover this one.
    assert!(matches!(decide("uid-switch", Some("no"), true, "sshd,pty"), Decision::Fail(_)));
    // Declared: a skip that says it was declared.
    for absent in ["uid-switch", "sshd,uid-switch", " sshd , uid-switch ", "uid-switch,"] {
        match decide("uid-switch", Some("not running as root"), true, absent) {
            Decision::Skip(m) => {
                assert!(m.starts_with("uid-switch unavailable: not running as root"), "{m}");
                assert!(m.contains("declared absent in CORRAL_TEST_ABSENT"), "{m}");
            }
            other => panic!("{absent:?}: {other:?}"),
        }
    }
    // A name is matched whole, not as a substring.
    assert!(matches!(decide("pty", Some("no /dev/ptmx"), true, "ptys"), Decision::Fail(_)));
}

#[test]
fn unknown_names_fail_wherever_they_appear() {
    // A typo in a test's request.
    for ci in [false, true] {
        assert!(matches!(decide("cgroupv2", None, ci, ""), Decision::Fail(m) if m.contains("unknown host feature")));
        assert!(matches!(decide("cgroupv2", Some("x"), ci, ""), Decision::Fail(_)));
    }
    // A typo in the CI declaration fails, even for a feature that is present.
    for reason in [None, Some("missing")] {
        let d = decide("sshd", reason, true, "sshd,uid_switch");
        assert!(
            matches!(&d, Decision::Fail(m) if m.contains("CORRAL_TEST_ABSENT") && m.contains("uid_switch")),
            "{d:?}"
        );
    }
}

#[test]
fn feature_names_are_kebab_case_and_unique() {
    let mut names: Vec<&str> = FEATURES.iter().map(|(n, _)| *n).collect();
    for n in &names {
        assert!(n.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'), "{n}");
        assert!(!n.starts_with('-') && !n.ends_with('-'), "{n}");
    }
    names.sort();
    names.dedup();
    assert_eq!(names.len(), FEATURES.len());
}

#[test]
fn require_panics_on_an_unknown_name_without_running_its_check() {
    let ran = std::cell::Cell::new(false);
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        feature::require("no-such-feature", || {
            ran.set(true);
            Ok(())
        })
    }));
    assert!(r.is_err());
    assert!(!ran.get());
}

#[test]
fn require_runs_the_check_and_passes_a_present_feature() {
    // A present feature runs whatever CI and CORRAL_TEST_ABSENT say (a typo in the
    // latter fails here, as it should).
    let ran = std::cell::Cell::new(false);
    assert!(feature::require("pty", || {
        ran.set(true);
        Ok(())
    }));
    assert!(ran.get());
}
