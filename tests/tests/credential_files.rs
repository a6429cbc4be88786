//! Credential files changed behind the panel (by an administrator, another program, WHM itself): a key rewritten,
//! replaced by rename, chmod'ed, chowned or deleted, an API token store revoked or edited by another process, for the
//! panel's own credentials and a real server's. A serving panel answers credentials from memory while no change
//! notification came for their directory, so each change is answered anew once its notification is delivered (polled
//! here with a deadline); a panel that watches nothing compares the file's stamp on every request, so the very next
//! request sees the change.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::{Duration, Instant};

use tests::whm_tree::{self, WhmTree};
use tests::{Cast, TestPanel};

/// How long a change may take to be answered: its notification's delivery, milliseconds on a loaded machine. Far
/// below the period after which a trusted entry's stamp is compared anyway (`fsx::notice::RECHECK`, 30 s), so what
/// these tests see is the notification's doing.
const DEADLINE: Duration = Duration::from_secs(10);

/// Polls `answered` until it holds, failing at the deadline with `what`.
fn eventually(what: &str, mut answered: impl FnMut() -> bool) {
    let start = Instant::now();
    while !answered() {
        assert!(
            start.elapsed() < DEADLINE,
            "{what}: not answered anew within {DEADLINE:?}"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// The status of `version` for `user` presenting `secret` (a key or a token).
fn status(p: &TestPanel, user: &str, secret: &str) -> u16 {
    p.presenting(&format!("WHM {user}:{secret}")).api("version", "").status
}

fn key_text() -> credentials::AccessKey {
    credentials::AccessKey::generate().expect("a key")
}

/// Writes `text` into the file itself (the same inode), as an editor saving in place or `cp` does.
fn rewrite_in_place(path: &Path, text: &str) {
    use std::io::Write;
    std::fs::OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(path)
        .and_then(|mut f| f.write_all(text.as_bytes()))
        .expect("rewriting the file in place");
}

fn chmod(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

/// Each change of a key file, one after another on a warm cache: the key answered before is answered anew.
fn key_changes_are_answered_anew(p: &TestPanel, user: &str, path: &Path, first: &str, owner: u32) {
    let home = path.parent().expect("a home");
    let mut current = first.to_owned();
    assert_eq!(status(p, user, &current), 200, "the key works");

    let rewritten = key_text();
    rewrite_in_place(path, &rewritten.to_file_text());
    eventually("a key rewritten in place", || {
        status(p, user, rewritten.as_str()) == 200
    });
    assert_ne!(status(p, user, &current), 200, "the old key no longer works");
    current = rewritten.as_str().to_owned();

    let renamed = key_text();
    let temp = home.join(".accesshash.new");
    std::fs::write(&temp, renamed.to_file_text()).expect("a new key file");
    chmod(&temp, 0o600);
    let _ = std::os::unix::fs::chown(&temp, Some(owner), None);
    std::fs::rename(&temp, path).expect("renamed into place");
    eventually("a key replaced by rename", || status(p, user, renamed.as_str()) == 200);
    assert_ne!(status(p, user, &current), 200, "the old key no longer works");
    current = renamed.as_str().to_owned();

    chmod(path, 0o644);
    eventually("a key made readable by others", || status(p, user, &current) != 200);
    chmod(path, 0o600);
    eventually("the key made private again", || status(p, user, &current) == 200);

    // Giving a file away needs root; the rest of the cases hold without it.
    if std::os::unix::fs::chown(path, Some(4242), None).is_ok() {
        eventually("a key given to another user", || status(p, user, &current) != 200);
        std::os::unix::fs::chown(path, Some(owner), None).expect("chown back");
        eventually("the key given back", || status(p, user, &current) == 200);
    }

    std::fs::remove_file(path).expect("deleting the key");
    eventually("a key deleted", || status(p, user, &current) != 200);
}

#[test]
fn the_panels_own_keys_are_answered_anew_after_each_change_on_disk() {
    let p = TestPanel::serve(&Cast::standard());
    for user in ["root", "bob"] {
        let key = p.access_key(user);
        key_changes_are_answered_anew(&p, user, &p.key_file(user), &key, credentials::effective_uid());
    }
}

#[test]
fn api_tokens_changed_by_another_process_are_answered_anew() {
    let p = TestPanel::serve(&Cast::standard());
    let bob = p.as_("bob");
    let token = bob.secret().to_owned();
    assert_eq!(status(&p, "bob", &token), 200);
    let other = credentials::TokenStore::open(&p.token_store_dir()).expect("the store, as another process opens it");
    let names = p.token_names("bob");

    // Revoked elsewhere (the file replaced by rename): refused once the change is noticed.
    for name in &names {
        assert!(other.revoke("bob", name).expect("revoking"));
    }
    eventually("a token revoked by another process", || {
        status(&p, "bob", &token) != 200
    });

    // Created elsewhere: works at once after its notification.
    let name = credentials::TokenName::new("made-elsewhere").unwrap();
    let (_, made) = other.create("bob", &name, None, None, &[]).expect("a token");
    eventually("a token created by another process", || {
        status(&p, "bob", made.expose()) == 200
    });

    // Edited in place, the digest overwritten: refused.
    let file = p.token_store_dir().join("bob.json");
    let text = std::fs::read_to_string(&file).unwrap();
    rewrite_in_place(
        &file,
        &text.replace(&credentials::sha512_hex(made.expose()), &"0".repeat(128)),
    );
    eventually("a token store edited in place", || {
        status(&p, "bob", made.expose()) != 200
    });

    // Another user's file changing in the same directory leaves bob's tokens as they are.
    let (_, again) = other
        .create("bob", &credentials::TokenName::new("again").unwrap(), None, None, &[])
        .unwrap();
    eventually("another token created elsewhere", || {
        status(&p, "bob", again.expose()) == 200
    });
    let root = p.as_("root");
    assert_eq!(status(&p, "root", root.secret()), 200);
    assert_eq!(status(&p, "bob", again.expose()), 200);

    // The file deleted: no token at all.
    std::fs::remove_file(&file).unwrap();
    eventually("a token store file deleted", || {
        status(&p, "bob", again.expose()) != 200
    });
}

#[test]
fn a_real_servers_keys_are_answered_anew_after_each_change_on_disk() {
    let tree = WhmTree::standard();
    let p = TestPanel::serve(&Cast::standard().whm_root(tree.root()).without_plugins());
    let path = tree.root().join("home/alpha/.accesshash");
    let owner = std::fs::metadata(&path)
        .map(|m| std::os::unix::fs::MetadataExt::uid(&m))
        .unwrap();
    key_changes_are_answered_anew(&p, "alpha", &path, &tree.alpha_key, owner);
    // Root's key too, owned by root.
    let root_key = tree.root().join("root/.accesshash");
    whm_tree::put(tree.root(), "root/.accesshash", &tree.root_key, 0o600, 0);
    key_changes_are_answered_anew(&p, "root", &root_key, &tree.root_key, 0);
}

/// Nothing watches in a panel that does not serve (the command line's, or this one driven in process): every request
/// compares the key file's and the token file's stamps, so a change is answered at the very next request.
#[test]
fn without_notifications_every_request_compares_the_stamp() {
    let p = TestPanel::open(&Cast::standard());
    let key = p.access_key("bob");
    assert_eq!(status(&p, "bob", &key), 200);
    let next = key_text();
    rewrite_in_place(&p.key_file("bob"), &next.to_file_text());
    assert_eq!(
        status(&p, "bob", next.as_str()),
        200,
        "the next request reads the new key"
    );
    assert_ne!(status(&p, "bob", &key), 200);
    chmod(&p.key_file("bob"), 0o640);
    assert_ne!(
        status(&p, "bob", next.as_str()),
        200,
        "the next request refuses the key file"
    );

    let token = p.as_("bob").secret().to_owned();
    assert_eq!(status(&p, "bob", &token), 200);
    let other = credentials::TokenStore::open(&p.token_store_dir()).unwrap();
    for name in p.token_names("bob") {
        other.revoke("bob", &name).unwrap();
    }
    assert_ne!(status(&p, "bob", &token), 200, "the next request sees the revocation");
}
