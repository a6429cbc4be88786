//! Synthetic cPanel & WHM server trees, file by file as WHM writes them (modes, owners and the cache's mtime
//! included), for the tests and the benchmark of a real-server source.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// The tokens of [`WhmTree::standard`], as WHM's users would present them.
pub const ROOT_TOKEN: &str = "ROOTFULL000000000000000000000001";
pub const BRAVO_LIST_TOKEN: &str = "BRAVOLIST00000000000000000000003";
pub const ALPHA_OLD_TOKEN: &str = "ALPHAOLD000000000000000000000004";
pub const ALPHA_LOST_TOKEN: &str = "ALPHALOST00000000000000000000005";
pub const CHARLIE_NONE_TOKEN: &str = "CHARLIENONE000000000000000000006";
pub const AMY_TOKEN: &str = "AMYTOKEN000000000000000000000007";

/// A cpuser file's `KEY=value` pairs.
type Fields<'a> = &'a [(&'a str, &'a str)];

/// A server tree in a temporary directory.
#[derive(Debug)]
pub struct WhmTree {
    pub dir: tempfile::TempDir,
    /// `root`'s and `alpha`'s access keys, one line each.
    pub root_key: String,
    pub alpha_key: String,
}

/// Writes a file (and its directories) with a mode and, as root, an owner.
pub fn put(root: &Path, rel: &str, text: &str, mode: u32, uid: u32) -> PathBuf {
    let path = root.join(rel);
    std::fs::create_dir_all(path.parent().expect("a parent")).expect("directories");
    std::fs::write(&path, text).expect("writing a tree file");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).expect("mode");
    let _ = std::os::unix::fs::chown(&path, Some(uid), None);
    path
}

fn dir_mode(root: &Path, rel: &str, mode: u32) {
    let path = root.join(rel);
    std::fs::create_dir_all(&path).expect("directory");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).expect("mode");
}

fn token_entry(secret: &str, body: &str) -> String {
    format!("\"{}\":{body}", credentials::sha512_hex(secret))
}

fn cpuser(fields: &[(&str, &str)]) -> String {
    let mut out = String::from(
        "# cPanel -- If you edit this file directly you must run /usr/local/cpanel/scripts/updateuserdomains afterwards to rebuild the system caches.\n# If you edit MAX_EMAIL_PER_HOUR or MAX_EMAIL_PER_HOUR-[domain] you must run /usr/local/cpanel/scripts/updateuserdomains'\n\n",
    );
    let mut sorted = fields.to_vec();
    sorted.sort();
    for (k, v) in sorted {
        out.push_str(&format!("{k}={v}\n"));
    }
    out
}

impl WhmTree {
    /// The tree the tests read: resellers `alpha` (root-owned, list-accts and manage-api-tokens), `bravo` (`all`,
    /// owns itself) and `charlie`; a line for `delta` WHM's login reader never matches; `ghost` without a system user;
    /// accounts `amy` and `andy` (suspended) of alpha's, `bob` of bravo's, `delta`; and tokens, keys and caches with
    /// one of each oddity `check --server` reports.
    pub fn standard() -> WhmTree {
        let dir = tempfile::tempdir().expect("temp dir");
        let r = dir.path();
        put(
            r,
            "etc/passwd",
            "root:x:0:0:root:/root:/bin/bash\nnobody:x:99:99:Nobody:/:/sbin/nologin\nalpha:x:1001:1001::/home/alpha:/bin/bash\nbravo:x:1002:1002::/home2/bravo:/bin/bash\ncharlie:x:1003:1003::/home/charlie:/usr/local/cpanel/bin/noshell\namy:x:1004:1004::/home/amy:/bin/bash\nandy:x:1005:1005::/home3/andy:/bin/bash\nbob:x:1006:1006::/home/bob:/bin/bash\ndelta:x:1007:1007::/home/delta:/bin/bash\nnodns:x:1008:1008::/home/nodns:/bin/bash\n",
            0o644,
            0,
        );
        put(
            r,
            "etc/shadow",
            "root:$6$x:19000::::::\nalpha:$6$a:19000::::::\namy:$6$b:19000::::::\nandy:!!$6$c:19000::::::\n",
            0o600,
            0,
        );
        // CRLF line ends and no final newline, as edited on another system.
        let config = put(
            r,
            "var/cpanel/cpanel.config",
            "# cpanel.config\r\nallow_deprecated_accesshash=1\r\nmaxcpsrvdconnections=200\r\nfuture_key=\u{fffd}x",
            0o644,
            0,
        );
        let cache = put(
            r,
            "var/cpanel/cpanel.config.cache",
            "{\"allow_deprecated_accesshash\":\"0\",\"api_shell\":\"1\",\"maxcpsrvdconnections\":\"200\"}",
            0o644,
            0,
        );
        let t = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        set_mtime(&config, t);
        set_mtime(&cache, t + Duration::from_secs(1));
        put(
            r,
            "var/cpanel/resellers",
            "alpha:acct-summary,basic-whm-functions,create-user-session,list-accts,manage-api-tokens,acme-backup\nbravo:all\ncharlie:list-accts,manage-api-tokens\n delta:list-accts\nalpha:all\nghost:list-accts",
            0o644,
            0,
        );
        dir_mode(r, "var/cpanel/acllists", 0o755);
        put(
            r,
            "var/cpanel/acllists/support",
            "acct-summary=1\nadd-pkg=0\n\nlist-accts=1\n",
            0o644,
            0,
        );
        dir_mode(r, "var/cpanel/users", 0o711);
        let users: &[(&str, u32, Fields)] = &[
            (
                "amy",
                1004,
                &[
                    ("BWLIMIT", "unlimited"),
                    ("CONTACTEMAIL", "amy@mail.example"),
                    ("DNS", "amy.example"),
                    ("DNS1", "amy-shop.example"),
                    ("OWNER", "alpha"),
                    ("PLAN", "alpha_basic"),
                    ("RS", "jupiter"),
                    ("STARTDATE", "1690000000"),
                    ("USER", "amy"),
                    ("MAXPOP", "10"),
                ],
            ),
            (
                "andy",
                1005,
                &[
                    ("DNS", "andy.example"),
                    ("OWNER", "alpha"),
                    ("PLAN", "alpha_pro"),
                    ("STARTDATE", "1700000000"),
                    ("USER", "andy"),
                ],
            ),
            (
                "alpha",
                1001,
                &[("DNS", "alpha.example"), ("OWNER", "root"), ("PLAN", "reseller")],
            ),
            ("bravo", 1002, &[("DNS", "bravo.example"), ("OWNER", "bravo")]),
            ("charlie", 1003, &[("DNS", "charlie.example")]),
            (
                "bob",
                1006,
                &[("DNS", "bob.example"), ("OWNER", "bravo"), ("USER", "robert")],
            ),
            ("delta", 1007, &[("DNS", "delta.example"), ("OWNER", "root")]),
            ("nodns", 1008, &[("OWNER", "root")]),
        ];
        for (name, uid, fields) in users {
            put(r, &format!("var/cpanel/users/{name}"), &cpuser(fields), 0o640, *uid);
        }
        put(r, "var/cpanel/users/system", "DNS=unowned.example\n", 0o640, 0);
        put(r, "var/cpanel/suspended/andy", "Nonpayment\n", 0o644, 0);
        put(
            r,
            "etc/trueuserowners",
            "alpha: root\namy: alpha\nandy: alpha\nbob: root\nbravo: bravo\ncharlie: root\ndelta: root\n",
            0o644,
            0,
        );
        put(
            r,
            "etc/userdatadomains",
            "amy.example: amy==alpha==main==amy.example==/home/amy/public_html==192.0.2.10:80==192.0.2.10:443==2001:db8::10,x\n",
            0o640,
            0,
        );
        let root_key = key_text();
        let alpha_key = key_text();
        dir_mode(r, "root", 0o700);
        put(r, "root/.accesshash", &root_key, 0o600, 0);
        put(r, "home/alpha/.accesshash", &alpha_key, 0o600, 1001);
        put(r, "home/amy/.accesshash", &key_text(), 0o600, 1004);
        put(r, "home/charlie/.accesshash", &key_text(), 0o644, 1003);
        dir_mode(r, "var/cpanel/authn", 0o711);
        dir_mode(r, "var/cpanel/authn/api_tokens_v2", 0o711);
        dir_mode(r, "var/cpanel/authn/api_tokens_v2/whostmgr", 0o700);
        let tokens = |entries: Vec<String>| format!("{{\"tokens\":{{{}}}}}", entries.join(","));
        let tdir = "var/cpanel/authn/api_tokens_v2/whostmgr";
        put(
            r,
            &format!("{tdir}/root.json"),
            &tokens(vec![token_entry(
                ROOT_TOKEN,
                "{\"create_time\":1700000000,\"expires_at\":null,\"name\":\"rootfull\"}",
            )]),
            0o600,
            0,
        );
        put(
            r,
            &format!("{tdir}/bravo.json"),
            &tokens(vec![token_entry(
                BRAVO_LIST_TOKEN,
                "{\"whitelist_ips\":[\"127.0.0.1\",\"192.0.2.0/24\"],\"name\":\"bravo-list\",\"acls\":[\"acct-summary\",\"list-accts\"],\"expires_at\":4102444800,\"create_time\":1705000000}",
            )]),
            0o600,
            0,
        );
        put(
            r,
            &format!("{tdir}/alpha.json"),
            &tokens(vec![
                token_entry(
                    ALPHA_OLD_TOKEN,
                    "{\"name\":\"alpha-old\",\"expires_at\":\"1000000000\",\"create_time\":1}",
                ),
                token_entry(
                    ALPHA_LOST_TOKEN,
                    "{\"name\":\"alpha-lost\",\"acls\":[\"edit-dns\",\"list-accts\"],\"create_time\":1}",
                ),
                "\"NOTAHASH\":{\"name\":\"alpha-bad\",\"create_time\":1}".to_owned(),
            ]),
            0o600,
            0,
        );
        put(
            r,
            &format!("{tdir}/charlie.json"),
            &tokens(vec![token_entry(
                CHARLIE_NONE_TOKEN,
                "{\"name\":\"charlie-nowhere\",\"whitelist_ips\":[],\"create_time\":1}",
            )]),
            0o600,
            0,
        );
        put(
            r,
            &format!("{tdir}/amy.json"),
            &tokens(vec![token_entry(
                AMY_TOKEN,
                "{\"name\":\"amy-token\",\"create_time\":1}",
            )]),
            0o600,
            0,
        );
        dir_mode(r, "var/cpanel/clusterserver", 0o700);
        put(
            r,
            "var/cpanel/clusterserver/servers.db",
            "--- \nnode2.example: \n  key: NODE2TOKEN0000000000000000000004\n  user: root\n",
            0o600,
            0,
        );
        WhmTree {
            dir,
            root_key: one_line(&root_key),
            alpha_key: one_line(&alpha_key),
        }
    }

    pub fn root(&self) -> &Path {
        self.dir.path()
    }
}

fn one_line(key: &str) -> String {
    credentials::AccessKey::normalise(key)
        .expect("a key")
        .as_str()
        .to_owned()
}

fn key_text() -> String {
    credentials::AccessKey::generate().expect("a key").to_file_text()
}

fn set_mtime(path: &Path, t: SystemTime) {
    std::fs::File::options()
        .write(true)
        .open(path)
        .and_then(|f| f.set_modified(t))
        .expect("setting an mtime");
}

/// A large tree for the benchmark: `resellers` resellers owning `accounts` accounts between them.
pub fn synthetic(root: &Path, resellers: usize, accounts: usize) {
    let mut passwd = String::from("root:x:0:0:root:/root:/bin/bash\n");
    let mut resellers_file = String::new();
    let mut owners = String::new();
    for i in 0..resellers {
        let name = format!("res{i}");
        passwd.push_str(&format!("{name}:x:{}:{}::/home/{name}:/bin/bash\n", 2000 + i, 2000 + i));
        resellers_file.push_str(&format!("{name}:list-accts,manage-api-tokens,acct-summary\n"));
        put(
            root,
            &format!("var/cpanel/users/{name}"),
            &cpuser(&[("DNS", &format!("{name}.example")), ("OWNER", "root")]),
            0o640,
            0,
        );
        owners.push_str(&format!("{name}: root\n"));
    }
    for i in 0..accounts {
        let name = format!("acct{i}");
        let owner = format!("res{}", i % resellers.max(1));
        passwd.push_str(&format!(
            "{name}:x:{}:{}::/home/{name}:/bin/bash\n",
            100_000 + i,
            100_000 + i
        ));
        put(
            root,
            &format!("var/cpanel/users/{name}"),
            &cpuser(&[
                ("DNS", &format!("{name}.example")),
                ("OWNER", &owner),
                ("PLAN", "basic"),
            ]),
            0o640,
            0,
        );
        owners.push_str(&format!("{name}: {owner}\n"));
    }
    put(root, "etc/passwd", &passwd, 0o644, 0);
    put(root, "var/cpanel/resellers", &resellers_file, 0o644, 0);
    put(root, "etc/trueuserowners", &owners, 0o644, 0);
    put(
        root,
        "var/cpanel/cpanel.config",
        "allow_deprecated_accesshash=1\n",
        0o644,
        0,
    );
}
