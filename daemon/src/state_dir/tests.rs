//! The state directory's lock and problems, on real directories (root ignores
//! mode bits: read-only and full ones are in the end-to-end tests).

use super::*;

fn save(dir: &mut StateDir) -> Result<usize, StoreFault> {
    use portsyncd_core::engine::{StartKind, SwitchType};
    let config = portsyncd_core::SyncConfig { start: StartKind::Cold, switch_type: SwitchType::Switch };
    let engine = portsyncd_core::LinkSync::<4, 4>::new(config);
    SnapshotStore::<4>::save(dir, &engine.snapshot_view())
        .map_err(|e| <StateDir as SnapshotStore<4>>::fault(&e))
}

#[test]
fn what_cannot_be_used_is_a_problem_not_a_refusal() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("file");
    fs::write(&file, "x").unwrap();
    let f = file.display();
    let under = file.join("a/state");
    for (path, fault, text) in [
        (&file, StoreFault::NotADirectory, format!("state dir {f}: not a directory (a regular file)")),
        (&under, StoreFault::NotADirectory, format!("state dir {}: {f} is not a directory", under.display())),
    ] {
        let mut dir = StateDir::lock(path).unwrap();
        dir.claim();
        assert_eq!(dir.problem(), Some(&Problem { fault, text }));
        assert_eq!(save(&mut dir), Err(fault), "tried again at each save");
    }
    assert_eq!(fs::read_to_string(&file).unwrap(), "x", "nothing written");
}

#[test]
fn saves_take_the_directory_once_it_can_be_created() {
    let tmp = tempfile::tempdir().unwrap();
    let blocker = tmp.path().join("var");
    fs::write(&blocker, "").unwrap();
    let path = blocker.join("state");
    let mut dir = StateDir::lock(&path).unwrap();
    dir.claim();
    assert_eq!(dir.problem().map(|p| p.fault), Some(StoreFault::NotADirectory));
    // Meanwhile no lock, so another daemon can take it first: our save
    // then fails, and writes nothing over its snapshot.
    fs::remove_file(&blocker).unwrap();
    let mut other = StateDir::lock(&path).unwrap();
    other.claim();
    assert_eq!(other.problem(), None);
    let before = fs::read_to_string(path.join(LOCK_FILE)).unwrap();
    assert_eq!(save(&mut dir), Err(StoreFault::InUse));
    assert_eq!(fs::read_to_string(path.join(LOCK_FILE)).unwrap(), before);
    assert!(!path.join(portsyncd_state_file::FILE_NAME).exists());
    // Once it is free, ours: locked, our pid, the snapshot.
    drop(other);
    assert!(save(&mut dir).unwrap() > 0);
    assert_eq!(dir.problem(), None);
    assert_eq!(fs::read_to_string(path.join(LOCK_FILE)).unwrap(), format!("{}\n", std::process::id()));
    let e = StateDir::lock(&path).unwrap_err();
    assert!(e.starts_with(&format!("state dir {} is in use by portsyncd pid ", path.display())), "{e}");
}

#[test]
fn the_directory_itself_is_locked_even_without_a_lock_file() {
    let tmp = tempfile::tempdir().unwrap();
    let mut first = StateDir::lock(tmp.path()).unwrap();
    first.claim();
    // As if the lock file could not be written (a read-only directory).
    fs::remove_file(tmp.path().join(LOCK_FILE)).unwrap();
    let e = StateDir::lock(tmp.path()).unwrap_err();
    assert_eq!(
        e,
        format!(
            "state dir {} is in use by another portsyncd (it holds a lock on it); one daemon per state dir",
            tmp.path().display()
        )
    );
}

#[test]
fn check_config_finds_the_same_problems_and_creates_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let missing = tmp.path().join("x/y/state");
    assert_eq!(check(&missing), Ok(()));
    assert!(!tmp.path().join("x").exists(), "nothing created");
    assert_eq!(check(tmp.path()), Ok(()));
    let file = tmp.path().join("file");
    fs::write(&file, "").unwrap();
    let tail = "; a run would start, but save no warm-restart snapshot until that changes";
    let f = file.display();
    assert_eq!(check(&file), Err(format!("state dir {f}: not a directory (a regular file){tail}")));
    let under = file.join("state");
    assert_eq!(check(&under), Err(format!("state dir {}: {f} is not a directory{tail}", under.display())));
}
