//! The parsers of untrusted bytes, fuzzed on the stable toolchain as ordinary tests: each target's seeds (committed
//! below) are replayed, then mutated a bounded number of times with a fixed seed (byte flips, insertions of the bytes
//! parsers care about, cuts, splices of two seeds), and every input must keep the target's promises. A failing input
//! is printed in full; add it to the target's seeds so it stays a regression input.
//!
//! The same properties are the libFuzzer targets of `fuzz/` (nightly, coverage-guided, unbounded).

use std::path::Path;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// Mutated inputs per target: about a second in all.
const ROUNDS: usize = 20_000;

/// Bytes worth inserting: line structure, separators, quotes, NUL, control characters, a UTF-8 lead byte.
const INTERESTING: &[u8] = b"\n\r\0=:#;[]\"'\\ \t,-.\x7f\xc3\x01\x1f";

fn mutate(rng: &mut StdRng, seeds: &[&[u8]]) -> Vec<u8> {
    let mut data = seeds[rng.random_range(0..seeds.len())].to_vec();
    for _ in 0..rng.random_range(1..5) {
        let at = if data.is_empty() {
            0
        } else {
            rng.random_range(0..=data.len())
        };
        match rng.random_range(0..6) {
            0 if !data.is_empty() => {
                let i = at.min(data.len() - 1);
                data[i] ^= 1 << rng.random_range(0..8);
            }
            1 => data.insert(at, INTERESTING[rng.random_range(0..INTERESTING.len())]),
            2 => data.truncate(at),
            3 => {
                let other = seeds[rng.random_range(0..seeds.len())];
                let from = rng.random_range(0..=other.len());
                data.splice(at..at, other[from..].iter().copied());
            }
            4 if !data.is_empty() => {
                let end = rng.random_range(at..=data.len());
                data.drain(at..end);
            }
            _ => {
                let n = rng.random_range(1..64);
                data.splice(at..at, std::iter::repeat_n(b'x', n));
            }
        }
    }
    data
}

/// Replays the seeds, then `ROUNDS` mutations of them, through `check`; a panic names the input.
fn fuzz(name: &str, seeds: &[&[u8]], check: impl Fn(&[u8])) {
    let mut rng = StdRng::seed_from_u64(0x7765_616b_6761_7465);
    let inputs = seeds
        .iter()
        .map(|s| s.to_vec())
        .chain((0..ROUNDS).map(|_| mutate(&mut rng, seeds)));
    for input in inputs {
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| check(&input)));
        if let Err(e) = outcome {
            let why = e
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| e.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                .unwrap_or_default();
            panic!(
                "{name}: the input {:?} broke a promise: {why}",
                String::from_utf8_lossy(&input)
            );
        }
    }
}

#[test]
fn cpanel_config_parses_renders_and_writes_back_every_input() {
    use settings::native::CpanelConfig;
    let seeds: &[&[u8]] = &[
        b"allow_deprecated_accesshash=1\nmaxcpsrvdconnections=200\n",
        b"# comment\r\nskipboxtrapper=0\r\nsome_unmodelled_key=42",
        b"dormant_services=cpdavd,exim\ncsp=0\nloadthreshold=high \n=empty\n\n",
    ];
    fuzz("cpanel.config", seeds, |data| {
        let Ok(text) = std::str::from_utf8(data) else { return };
        let doc = CpanelConfig::parse(text);
        let rendered = doc.render();
        assert_eq!(CpanelConfig::parse(&rendered), doc, "parse(render(doc)) != doc");
        let (settings, warnings) = doc.to_tweak_settings("cpanel.config");
        for w in &warnings {
            assert!(w.line >= 1 && w.line <= text.lines().count(), "{w}");
        }
        if let Ok(written) = CpanelConfig::from_settings(&settings) {
            let (back, _) = CpanelConfig::parse(&written.render()).to_tweak_settings("cpanel.config");
            assert_eq!(back, settings, "settings changed through a write");
        }
    });
}

#[test]
fn resellers_files_round_trip_or_name_their_line() {
    use settings::native::ResellersFile;
    let seeds: &[&[u8]] = &[
        b"bob:list-accts,manage-api-tokens\ncarol:all\n",
        b"erin:\r\nfrank:create-acct,vendor-acl\n",
    ];
    fuzz("resellers", seeds, |data| {
        let Ok(text) = std::str::from_utf8(data) else { return };
        match ResellersFile::parse(text, "resellers") {
            Ok(file) => {
                let again = ResellersFile::parse(&file.render(), "resellers").expect("rendered text parses");
                assert_eq!(again, file);
            }
            Err(e) => assert!(e.line >= 1 && e.line <= text.lines().count().max(1), "{e}"),
        }
    });
}

#[test]
fn acl_lists_round_trip_or_name_their_line() {
    use settings::native::AclList;
    let seeds: &[&[u8]] = &[b"list-accts=1\nmanage-api-tokens=0\nvendor-acl=1\n", b"all=1"];
    fuzz("acllist", seeds, |data| {
        let Ok(text) = std::str::from_utf8(data) else { return };
        match AclList::parse(text, "acllists/test") {
            Ok(list) => {
                let again = AclList::parse(&list.render(), "acllists/test").expect("rendered text parses");
                assert_eq!(again, list);
            }
            Err(e) => assert!(e.line >= 1 && e.line <= text.lines().count().max(1), "{e}"),
        }
    });
}

#[test]
fn authorization_headers_never_leak_or_admit_control_characters() {
    use credentials::{Credential, MAX_HEADER_LEN, parse_authorization};
    let seeds: &[&[u8]] = &[
        b"WHM root:0123456789abcdef0123456789abcdef",
        b"whm bob:ABCDEFGHIJKLMNOPQRSTUVWXYZ012345",
        b"Basic cm9vdDpwYXNzd29yZA==",
        b"WHM root:0123\n4567",
    ];
    fuzz("Authorization", seeds, |data| match parse_authorization(data) {
        Ok(credential) => {
            assert!(data.len() <= MAX_HEADER_LEN);
            let (user, secret) = (credential.user(), credential.secret().expose());
            assert!(!user.is_empty() && !secret.is_empty() && !user.contains(':'));
            assert!(![user, secret].iter().any(|t| t.bytes().any(|b| b < 0x20 || b == 0x7f)));
            // Debug shows the user and the kind, and the secret only as a placeholder.
            let expected = match &credential {
                Credential::Whm { .. } => format!("Whm {{ user: {user:?}, secret: [REDACTED] }}"),
                Credential::Basic { .. } => format!("Basic {{ user: {user:?}, password: [REDACTED] }}"),
            };
            assert_eq!(format!("{credential:?}"), expected);
            if let Credential::Whm { .. } = credential {
                assert!(std::str::from_utf8(data).is_ok());
            }
        }
        Err(e) => assert!(!e.to_string().is_empty()),
    });
}

#[test]
fn config_toml_errors_locate_themselves() {
    use settings::{Config, ConfigError};
    const FILE: &str = "/nonexistent-tweakgate-fuzz/tweakgate.toml";
    let seeds: &[&[u8]] = &[
        b"[server]\nlisten = [\"127.0.0.1:2086\"]\nstate_dir = \"state\"\n\n[resellers.bob]\nprivileges = [\"list-accts\"]\n",
        b"[tweak_settings]\nallow_deprecated_accesshash = true\nmaxcpsrvdconnections = 300\n[[plugins]]\npath = \"x.so\"\n",
    ];
    fuzz("tweakgate.toml", seeds, |data| {
        let Ok(text) = std::str::from_utf8(data) else { return };
        match Config::parse(text, Path::new(FILE)) {
            Ok(config) => assert!(config.server.state_dir.is_absolute()),
            Err(ConfigError::Invalid { line, column, .. }) => {
                assert!(line >= 1 && line <= text.split('\n').count() && column >= 1);
            }
            Err(_) => {}
        }
    });
}

/// Request bodies of every content type the WHM API reads: never a panic, and a refusal is a clear `result` 0.
#[test]
fn request_bodies_of_every_content_type_are_read_or_refused_clearly() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let seeds: &[&[u8]] = &[
        b"api.version=1&key=skipboxtrapper&value=1",
        b"{\"api.version\":1,\"acl\":[\"list-accts\",\"all\"],\"flag\":true}",
        b"--b\r\nContent-Disposition: form-data; name=\"user\"\r\n\r\nbob\r\n--b--\r\n",
    ];
    for content_type in [
        None,
        Some("application/octet-stream"),
        Some("application/json"),
        Some("multipart/form-data; boundary=b"),
    ] {
        fuzz(&format!("body as {content_type:?}"), seeds, |data| {
            let read = runtime.block_on(panel::api_params::from_body(
                content_type,
                axum::body::Bytes::copy_from_slice(data),
            ));
            if let Err(e) = read {
                assert!(!e.reason.is_empty());
            }
        });
    }
}
