//! `listaccts` and `accountsummary` (WHM API 1): the accounts a caller may see, with WHM's fields and placeholders,
//! from a real server's files (cpuser files, `/etc/passwd`, suspension) or the TOML config's `[accounts.*]` alike.
//!
//! Root and holders of `all` (after a token's filter) see every account; everyone else only the accounts whose owner
//! is exactly them, so a reseller never sees another's, its sub-accounts' or root's, nor itself unless it owns itself.

use serde_json::{Map, Value, json};
use settings::Snapshot;
use settings::server::TreeAccount;

use crate::auth::Authorized;
use crate::features::{ACCOUNT_SUMMARY, LIST_ACCOUNTS};
use crate::whm::lists::List;
use crate::whm::{Ctx, FromParams, Operation, Params, WhmError};

const UNKNOWN: &str = "*unknown*";

/// Whether the caller sees every account (§9.7).
fn sees_all(auth: &Authorized<'_>) -> bool {
    let caller = auth.caller();
    auth.privileges.has_all() || caller.user.is_root()
}

/// `STARTDATE` as WHM shows it: `YY Mon DD HH:MM` (UTC here).
fn start_date(unix: i64) -> String {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    match time::OffsetDateTime::from_unix_timestamp(unix) {
        Ok(t) => format!(
            "{:02} {} {:02} {:02}:{:02}",
            t.year() % 100,
            MONTHS[usize::from(u8::from(t.month())) - 1],
            t.day(),
            t.hour(),
            t.minute()
        ),
        Err(_) => UNKNOWN.to_owned(),
    }
}

/// A number as a JSON number, anything else (`unlimited`) as the string it is.
fn number_or_text(v: Option<&str>) -> Value {
    match v.map(str::trim) {
        None | Some("") => json!(UNKNOWN),
        Some(s) => s.parse::<i64>().map_or_else(|_| json!(s), |n| json!(n)),
    }
}

fn flag(v: Option<&str>) -> Value {
    json!(u8::from(v.map(str::trim) == Some("1")))
}

/// Every field of one account from a server tree.
fn tree_fields(a: &TreeAccount, min_defer: Value) -> Map<String, Value> {
    let c = &a.cpuser;
    let start: i64 = c.get("STARTDATE").and_then(|s| s.trim().parse().ok()).unwrap_or(0);
    let email = match (
        c.get("CONTACTEMAIL").filter(|e| !e.is_empty()),
        c.get("CONTACTEMAIL2").filter(|e| !e.is_empty()),
    ) {
        (Some(a), Some(b)) => format!("{a}, {b}"),
        (Some(a), None) => a.to_owned(),
        (None, Some(b)) => b.to_owned(),
        (None, None) => UNKNOWN.to_owned(),
    };
    let partition = a
        .passwd
        .home
        .split('/')
        .nth(1)
        .filter(|p| !p.is_empty())
        .unwrap_or(UNKNOWN);
    let s = &a.suspension;
    let mut m = Map::new();
    m.insert("user".into(), json!(a.name));
    m.insert("domain".into(), json!(c.domain().unwrap_or(UNKNOWN)));
    m.insert("owner".into(), json!(a.owner()));
    m.insert("plan".into(), json!(c.plan()));
    m.insert("email".into(), json!(email));
    m.insert("ip".into(), json!(a.ip.as_deref().or(c.get("IP")).unwrap_or(UNKNOWN)));
    m.insert("ipv6".into(), json!(a.ipv6));
    m.insert(
        "startdate".into(),
        json!(if start > 0 {
            start_date(start)
        } else {
            UNKNOWN.to_owned()
        }),
    );
    m.insert(
        "unix_startdate".into(),
        if start > 0 { json!(start) } else { json!(UNKNOWN) },
    );
    m.insert("suspended".into(), json!(u8::from(s.suspended)));
    m.insert(
        "suspendreason".into(),
        json!(if s.suspended {
            s.reason.as_str()
        } else {
            "not suspended"
        }),
    );
    m.insert("suspendtime".into(), json!(s.time));
    m.insert("is_locked".into(), json!(u8::from(s.locked)));
    m.insert("partition".into(), json!(partition));
    m.insert("shell".into(), json!(a.passwd.shell));
    m.insert("uid".into(), json!(a.passwd.uid));
    m.insert("theme".into(), json!(c.get("RS").unwrap_or(UNKNOWN)));
    for (field, key) in [
        ("maxaddons", "MAXADDON"),
        ("maxftp", "MAXFTP"),
        ("maxlst", "MAXLST"),
        ("maxparked", "MAXPARK"),
        ("maxpop", "MAXPOP"),
        ("maxsql", "MAXSQL"),
        ("maxsub", "MAXSUB"),
        ("max_emailacct_quota", "MAX_EMAILACCT_QUOTA"),
        ("max_email_per_hour", "MAX_EMAIL_PER_HOUR"),
        ("max_defer_fail_percentage", "MAX_DEFER_FAIL_PERCENTAGE"),
    ] {
        m.insert(field.into(), number_or_text(c.get(key)));
    }
    m.insert("min_defer_fail_to_trigger_protection".into(), min_defer);
    m.insert("backup".into(), flag(c.get("BACKUP")));
    m.insert("legacy_backup".into(), flag(c.get("LEGACY_BACKUP")));
    m.insert(
        "mailbox_format".into(),
        json!(c.get("MAILBOX_FORMAT").unwrap_or("maildir")),
    );
    m.insert("outgoing_mail_suspended".into(), flag(c.get("OUTGOING_MAIL_SUSPENDED")));
    m.insert("outgoing_mail_hold".into(), flag(c.get("OUTGOING_MAIL_HOLD")));
    m.insert(
        "temporary".into(),
        json!(u8::from(c.plan().contains("cPanel Ticket System"))),
    );
    m.insert("is_temporary_domain".into(), json!(0));
    m.insert("child_nodes".into(), json!([]));
    quota_placeholders(&mut m);
    m
}

/// `repquota` is not a file: WHM's answer for an account without quota data.
fn quota_placeholders(m: &mut Map<String, Value>) {
    m.insert("diskused".into(), json!("none"));
    m.insert("disklimit".into(), json!("unlimited"));
    m.insert("inodesused".into(), json!("none"));
    m.insert("inodeslimit".into(), json!("unlimited"));
}

/// Every account the configuration knows, each with all of its fields, sorted by user.
fn every_account(snapshot: &Snapshot) -> Vec<Map<String, Value>> {
    let config = snapshot.config();
    let min_defer = config
        .tweak_settings
        .in_force("email_send_limits_min_defer_fail_to_trigger_protection")
        .map_or(json!(5), |v| number_or_text(Some(v)));
    if let Some(tree) = config.whm.as_deref() {
        return tree
            .accounts
            .values()
            .map(|a| tree_fields(a, min_defer.clone()))
            .collect();
    }
    config
        .users
        .accounts
        .values()
        .map(|a| {
            let d = &a.details;
            let mut m = Map::new();
            m.insert("user".into(), json!(a.name));
            m.insert("domain".into(), json!(d.domain.as_deref().unwrap_or(UNKNOWN)));
            m.insert("owner".into(), json!(a.owner));
            m.insert("plan".into(), json!(d.plan.as_deref().unwrap_or("undefined")));
            m.insert("email".into(), json!(d.contact_email.as_deref().unwrap_or(UNKNOWN)));
            m.insert("ip".into(), json!(UNKNOWN));
            m.insert("ipv6".into(), json!([]));
            m.insert("startdate".into(), json!(UNKNOWN));
            m.insert("unix_startdate".into(), json!(UNKNOWN));
            m.insert("suspended".into(), json!(u8::from(d.suspended.is_some())));
            m.insert(
                "suspendreason".into(),
                json!(d.suspended.as_deref().unwrap_or("not suspended")),
            );
            m.insert("suspendtime".into(), json!(0));
            m.insert("is_locked".into(), json!(0));
            let partition = a
                .home
                .as_ref()
                .and_then(|h| h.iter().nth(1))
                .map_or(UNKNOWN.to_owned(), |p| p.to_string_lossy().into_owned());
            m.insert("partition".into(), json!(partition));
            m.insert("shell".into(), json!(UNKNOWN));
            m.insert("uid".into(), json!(UNKNOWN));
            m.insert("theme".into(), json!(UNKNOWN));
            for field in [
                "maxaddons",
                "maxftp",
                "maxlst",
                "maxparked",
                "maxpop",
                "maxsql",
                "maxsub",
                "max_emailacct_quota",
                "max_email_per_hour",
                "max_defer_fail_percentage",
            ] {
                m.insert(field.into(), json!(UNKNOWN));
            }
            m.insert("min_defer_fail_to_trigger_protection".into(), min_defer.clone());
            m.insert("backup".into(), json!(0));
            m.insert("legacy_backup".into(), json!(0));
            m.insert("mailbox_format".into(), json!("maildir"));
            m.insert("outgoing_mail_suspended".into(), json!(0));
            m.insert("outgoing_mail_hold".into(), json!(0));
            m.insert("temporary".into(), json!(0));
            m.insert("is_temporary_domain".into(), json!(0));
            m.insert("child_nodes".into(), json!([]));
            quota_placeholders(&mut m);
            m
        })
        .collect()
}

fn text<'a>(m: &'a Map<String, Value>, key: &str) -> &'a str {
    m.get(key).and_then(Value::as_str).unwrap_or("")
}

/// The accounts this caller may see.
fn visible(ctx: Ctx<'_>, auth: &Authorized<'_>) -> Vec<Map<String, Value>> {
    let all = sees_all(auth);
    let me = auth.caller().user.as_str();
    every_account(ctx.snapshot)
        .into_iter()
        .filter(|a| all || text(a, "owner") == me)
        .collect()
}

/// `listaccts`' parameters.
#[derive(Debug)]
pub struct ListAcctsParams {
    search: Option<String>,
    searchtype: Option<String>,
    exact: bool,
    want: Option<Vec<String>>,
}

const SEARCH_TYPES: &[&str] = &["domain", "ip", "user", "package", "owner", "domain_and_user"];

impl FromParams for ListAcctsParams {
    fn from_params(p: &Params) -> Result<Self, WhmError> {
        let searchtype = p.get("searchtype").filter(|t| !t.is_empty()).map(str::to_owned);
        if searchtype.as_deref().is_some_and(|t| !SEARCH_TYPES.contains(&t)) {
            return Err(WhmError::new("Unknown search type."));
        }
        Ok(ListAcctsParams {
            search: p.get("search").filter(|s| !s.is_empty()).map(str::to_owned),
            searchtype,
            exact: p.get("searchmethod") == Some("exact"),
            want: p
                .get("want")
                .filter(|w| !w.is_empty())
                .map(|w| w.split(',').map(|f| f.trim().to_owned()).collect()),
        })
    }
}

/// The fields a search type looks at.
fn searched(kind: &str) -> &'static [&'static str] {
    match kind {
        "domain" => &["domain"],
        "ip" => &["ip"],
        "user" => &["user"],
        "package" => &["plan"],
        "owner" => &["owner"],
        _ => &["domain", "user"],
    }
}

#[derive(Debug)]
pub struct ListAccts;

impl Operation for ListAccts {
    const NAME: &'static str = "listaccts";
    const FEATURE: &'static str = LIST_ACCOUNTS;
    const LIST: Option<List> = Some(List::Under("acct"));
    type Params = ListAcctsParams;
    type Output = Value;

    fn run(ctx: Ctx<'_>, auth: Authorized<'_>, p: ListAcctsParams) -> Result<Value, WhmError> {
        let mut accounts = visible(ctx, &auth);
        if let (Some(search), Some(kind)) = (&p.search, &p.searchtype) {
            let fields = searched(kind);
            if p.exact {
                let lower = search.to_lowercase();
                accounts.retain(|a| {
                    fields.iter().any(|f| match *f {
                        "plan" | "ip" => text(a, f) == search,
                        "domain" => text(a, f).to_lowercase() == lower,
                        _ => text(a, f) == lower,
                    })
                });
                if kind == "user" && accounts.is_empty() {
                    return Err(WhmError::new("No accounts found."));
                }
            } else if let Ok(re) = regex::RegexBuilder::new(search)
                .case_insensitive(true)
                .size_limit(1 << 20)
                .build()
            {
                // An expression that does not compile matches everything, as in WHM.
                accounts.retain(|a| fields.iter().any(|f| re.is_match(text(a, f))));
            }
        }
        if accounts.is_empty() {
            return Ok(Value::Null);
        }
        let accounts: Vec<Value> = accounts
            .into_iter()
            .map(|mut a| {
                a.insert("has_backup".into(), json!(0));
                match &p.want {
                    Some(want) => Value::Object(
                        want.iter()
                            .map(|k| (k.clone(), a.get(k).cloned().unwrap_or(Value::Null)))
                            .collect(),
                    ),
                    None => Value::Object(a),
                }
            })
            .collect();
        Ok(json!({"acct": accounts}))
    }
}

/// `accountsummary`'s parameters: `user` or `domain`.
#[derive(Debug)]
pub struct SummaryParams {
    user: Option<String>,
    domain: Option<String>,
}

impl FromParams for SummaryParams {
    fn from_params(p: &Params) -> Result<Self, WhmError> {
        let user = p.get("user").filter(|u| !u.is_empty()).map(str::to_owned);
        let domain = p.get("domain").filter(|d| !d.is_empty()).map(str::to_owned);
        if user.is_none() && domain.is_none() {
            return Err(WhmError::new("You must specify a user or domain to get a summary of."));
        }
        Ok(SummaryParams { user, domain })
    }
}

#[derive(Debug)]
pub struct AccountSummary;

impl Operation for AccountSummary {
    const NAME: &'static str = "accountsummary";
    const FEATURE: &'static str = ACCOUNT_SUMMARY;
    type Params = SummaryParams;
    type Output = Value;

    fn run(ctx: Ctx<'_>, auth: Authorized<'_>, p: SummaryParams) -> Result<Value, WhmError> {
        let found = visible(ctx, &auth).into_iter().find(|a| match (&p.user, &p.domain) {
            (Some(u), _) => text(a, "user") == u.to_lowercase(),
            (None, Some(d)) => text(a, "domain") == d.to_lowercase(),
            (None, None) => false,
        });
        match found {
            Some(a) => Ok(json!({"acct": [a]})),
            None => Err(WhmError::new("Account does not exist.")),
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn start_dates_read_as_whm_prints_them() {
        assert_eq!(super::start_date(1_690_000_000), "23 Jul 22 04:26");
    }
}
