//! The catalogue of WHM's built-in reseller privileges (ACLs) and a compact set type for them.

use std::fmt;

/// Where WHM's *Edit Reseller Nameservers and Privileges* page lists an ACL.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct AclInfo {
    pub name: &'static str,
    pub title: &'static str,
    pub category: &'static str,
    pub group: &'static str,
    /// Part of the *Initial Privileges* a new reseller receives.
    pub initial: bool,
}

const fn acl(
    name: &'static str,
    title: &'static str,
    category: &'static str,
    group: &'static str,
    initial: bool,
) -> AclInfo {
    AclInfo {
        name,
        title,
        category,
        group,
        initial,
    }
}

const BASIC: &str = "Basic Privileges";
const INITIAL: &str = "Initial Privileges";
const STD: &str = "Standard Privileges";
const PKG: &str = "Package Privileges";
const GLOBAL: &str = "Global Privileges";
const SUPER: &str = "Super Privileges";
const ROOT: &str = "Root Access";

/// Every built-in ACL, in the order WHM's privileges page shows them, with the titles and category titles WHM shows
/// (cPanel's `Whostmgr::ACLS::Data`; docs.cpanel.net's *Edit Reseller Nameservers and Privileges* words a few
/// titles slightly differently, e.g. "Bandwidth Limiting Modification").
pub const CATALOGUE: [AclInfo; 64] = [
    acl("acct-summary", "Account Summary", BASIC, INITIAL, true),
    acl("basic-system-info", "Basic System Information", BASIC, INITIAL, true),
    acl("basic-whm-functions", "Basic WHM Functions", BASIC, INITIAL, true),
    acl(
        "connected-applications",
        "Configure connected external applications",
        BASIC,
        INITIAL,
        true,
    ),
    acl("cors-proxy-get", "Allow CORS HTTP Requests", BASIC, INITIAL, true),
    acl(
        "cpanel-api",
        "Perform cPanel API and UAPI functions through the WHM API",
        BASIC,
        INITIAL,
        true,
    ),
    acl(
        "cpanel-integration",
        "Manage cPanel Integration Links",
        BASIC,
        INITIAL,
        true,
    ),
    acl("create-user-session", "Create User Session", BASIC, INITIAL, true),
    acl("digest-auth", "Digest Authentication", BASIC, INITIAL, true),
    acl(
        "generate-email-config",
        "Generate Mobile Email Configurations",
        BASIC,
        INITIAL,
        true,
    ),
    acl("list-pkgs", "List Packages", BASIC, INITIAL, true),
    acl("manage-api-tokens", "Manage API Tokens", BASIC, INITIAL, true),
    acl("manage-dns-records", "Manage DNS Records", BASIC, INITIAL, true),
    acl("manage-oidc", "Manage OpenID Connect", BASIC, INITIAL, true),
    acl("manage-styles", "Manage Styles", BASIC, INITIAL, true),
    acl("mysql-info", "MySQL Information", BASIC, INITIAL, true),
    acl("ns-config", "Nameserver Configuration", BASIC, INITIAL, true),
    acl("public-contact", "Public Contact Information", BASIC, INITIAL, true),
    acl("ssl-info", "SSL Information", BASIC, INITIAL, true),
    acl("track-email", "Track Email", BASIC, INITIAL, true),
    acl("list-accts", "List Accounts", STD, "Account Information", false),
    acl(
        "show-bandwidth",
        "View Account Bandwidth Usage",
        STD,
        "Account Information",
        false,
    ),
    acl("create-acct", "Create Accounts", STD, "Account Management", false),
    acl("kill-acct", "Terminate Accounts", STD, "Account Management", false),
    acl(
        "suspend-acct",
        "Suspend/Unsuspend Accounts",
        STD,
        "Account Management",
        false,
    ),
    acl(
        "upgrade-account",
        "Upgrade/Downgrade Accounts",
        STD,
        "Account Management",
        false,
    ),
    acl("ssl", "SSL Site Management", STD, "Account Management", false),
    acl("ssl-buy", "Purchase SSL Certificates", STD, "Account Management", false),
    acl(
        "ssl-gencrt",
        "SSL CSR/Certificate Generator",
        STD,
        "Account Management",
        false,
    ),
    acl("edit-mx", "Edit MX Entries", STD, "Account Management", false),
    acl("passwd", "Change Passwords", STD, "Account Management", false),
    acl(
        "file-restore",
        "File and Directory Restoration",
        STD,
        "Account Management",
        false,
    ),
    acl("create-dns", "Add DNS Zones", STD, "DNS", false),
    acl("kill-dns", "Remove DNS Zones", STD, "DNS", false),
    acl("park-dns", "Park DNS Zones", STD, "DNS", false),
    acl("edit-dns", "Edit DNS Zones", STD, "DNS", false),
    acl("add-pkg", "Add/Remove Packages", STD, "Packages", false),
    acl("edit-pkg", "Edit Packages", STD, "Packages", false),
    acl(
        "thirdparty",
        "Manage Third-Party Services",
        STD,
        "Third-Party Services",
        false,
    ),
    acl("mailcheck", "Troubleshoot Mail Delivery", STD, "Troubleshooting", false),
    acl("news", "News Modification", STD, "cPanel Management", false),
    acl(
        "assign-root-account-enhancements",
        "Use Root Account Enhancements",
        STD,
        "Account Enhancements",
        false,
    ),
    acl(
        "allow-shell",
        "Allow Creation of Accounts with Shell Access",
        PKG,
        "Accounts",
        false,
    ),
    acl("viewglobalpackages", "Use Root Packages", PKG, "Package Access", false),
    acl(
        "allow-addoncreate",
        "Create Packages with Addon Domains",
        PKG,
        "Package Creation",
        false,
    ),
    acl(
        "allow-parkedcreate",
        "Create Packages with Parked (Alias) Domains",
        PKG,
        "Package Creation",
        false,
    ),
    acl(
        "add-pkg-ip",
        "Create Packages with a Dedicated IP Address",
        PKG,
        "Package Creation",
        false,
    ),
    acl(
        "add-pkg-shell",
        "Create Packages with Shell Access",
        PKG,
        "Package Creation",
        false,
    ),
    acl(
        "allow-unlimited-pkgs",
        "Create Packages with Unlimited Features (for example, email accounts)",
        PKG,
        "Package Creation",
        false,
    ),
    acl(
        "allow-emaillimits-pkgs",
        "Create Packages with Custom Email Limits",
        PKG,
        "Package Creation",
        false,
    ),
    acl(
        "allow-unlimited-disk-pkgs",
        "Create Packages with Unlimited Disk Usage",
        PKG,
        "Package Creation",
        false,
    ),
    acl(
        "allow-unlimited-bw-pkgs",
        "Create Packages with Unlimited Bandwidth",
        PKG,
        "Package Creation",
        false,
    ),
    acl("status", "View Server Status", GLOBAL, "Server Information", false),
    acl("stats", "View Server Information", GLOBAL, "Server Information", false),
    acl("restart", "Restart Services", GLOBAL, "Services", false),
    acl(
        "resftp",
        "Resynchronize FTP Passwords",
        GLOBAL,
        "Troubleshooting",
        false,
    ),
    acl(
        "edit-account",
        "Account Modification",
        SUPER,
        "Account Management",
        false,
    ),
    acl(
        "limit-bandwidth",
        "Bandwidth Limit Modification",
        SUPER,
        "Account Management",
        false,
    ),
    acl("quota", "Quota Modification", SUPER, "Account Management", false),
    acl(
        "demo-setup",
        "Set an Account to be a Demo Account",
        SUPER,
        "Account Management",
        false,
    ),
    acl(
        "rearrange-accts",
        "Rearrange Accounts",
        SUPER,
        "Advanced Account Management",
        false,
    ),
    acl("clustering", "DNS Clustering", SUPER, "Clustering", false),
    acl("locale-edit", "Modify & Create Locales", SUPER, "Locales", false),
    acl("all", "All Features", ROOT, "Everything", false),
];

/// Old ACL names that WHM still reads, and the name each means today.
pub const LEGACY_NAMES: &[(&str, &str)] = &[("onlyselfandglobalpkgs", "viewglobalpackages")];

/// One built-in ACL: an index into [`CATALOGUE`].
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Acl(u8);

impl Acl {
    /// `all`: root-level access, which passes every ACL check.
    pub const ALL: Acl = Acl(63);
    /// `manage-api-tokens`, the privilege the Remote Access Key page asks for.
    pub const MANAGE_API_TOKENS: Acl = Acl(11);

    /// Looks a name up in the catalogue; legacy names resolve to their current ACL.
    pub fn from_name(name: &str) -> Option<Acl> {
        let name = LEGACY_NAMES
            .iter()
            .find(|(old, _)| *old == name)
            .map_or(name, |(_, new)| *new);
        CATALOGUE.iter().position(|a| a.name == name).map(|i| Acl(i as u8))
    }

    pub fn info(self) -> &'static AclInfo {
        &CATALOGUE[self.0 as usize]
    }

    pub fn name(self) -> &'static str {
        self.info().name
    }

    pub fn index(self) -> usize {
        self.0 as usize
    }

    /// Every built-in ACL in catalogue order.
    pub fn iter() -> impl Iterator<Item = Acl> {
        (0..CATALOGUE.len() as u8).map(Acl)
    }

    /// All names a configuration may use, for suggestions.
    pub fn names() -> impl Iterator<Item = &'static str> {
        CATALOGUE.iter().map(|a| a.name)
    }

    /// Parses a name, with an error that suggests the nearest valid one.
    pub fn parse(name: &str) -> Result<Acl, String> {
        Acl::from_name(name).ok_or_else(|| {
            format!(
                "unknown ACL \"{}\"{}",
                name.escape_debug(),
                crate::suggest::did_you_mean(name, Acl::names())
            )
        })
    }
}

impl fmt::Debug for Acl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl fmt::Display for Acl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl serde::Serialize for Acl {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

impl<'de> serde::Deserialize<'de> for Acl {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Acl::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// A set of built-in ACLs: one bit per catalogue entry (there are exactly 64).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct AclSet(u64);

impl AclSet {
    pub const EMPTY: AclSet = AclSet(0);

    /// Every ACL, `all` included: what root holds.
    pub const EVERYTHING: AclSet = AclSet(u64::MAX);

    pub fn from_acls(acls: impl IntoIterator<Item = Acl>) -> AclSet {
        let mut set = AclSet::EMPTY;
        for a in acls {
            set.insert(a);
        }
        set
    }

    /// The *Initial Privileges* a new reseller receives.
    pub fn initial() -> AclSet {
        AclSet::from_acls(Acl::iter().filter(|a| a.info().initial))
    }

    pub fn insert(&mut self, acl: Acl) {
        self.0 |= 1 << acl.0;
    }

    pub fn remove(&mut self, acl: Acl) {
        self.0 &= !(1 << acl.0);
    }

    /// Holds this exact ACL (not counting `all`).
    pub fn contains(self, acl: Acl) -> bool {
        self.0 & (1 << acl.0) != 0
    }

    /// Root-level access.
    pub fn has_all(self) -> bool {
        self.contains(Acl::ALL)
    }

    /// WHM's `checkacl`: true when the set holds `all` or holds `acl`.
    pub fn check(self, acl: Acl) -> bool {
        self.has_all() || self.contains(acl)
    }

    /// True when the set passes a check for any ACL in `any_of` (WHM ORs `ACL=` parts).
    pub fn check_any(self, any_of: AclSet) -> bool {
        self.has_all() || self.0 & any_of.0 != 0
    }

    pub fn intersection(self, other: AclSet) -> AclSet {
        AclSet(self.0 & other.0)
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    pub fn iter(self) -> impl Iterator<Item = Acl> {
        Acl::iter().filter(move |a| self.contains(*a))
    }

    pub fn bits(self) -> u64 {
        self.0
    }

    /// What a request may use when an API token carrying `token` is presented by a user holding `self` (spec §3).
    pub fn limit_by_token(self, token: Option<AclSet>) -> AclSet {
        match token {
            None => self,
            Some(t) if t.has_all() => self,
            Some(t) if self.has_all() => t,
            Some(t) => self.intersection(t),
        }
    }
}

impl fmt::Debug for AclSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.iter()).finish()
    }
}

impl FromIterator<Acl> for AclSet {
    fn from_iter<I: IntoIterator<Item = Acl>>(iter: I) -> Self {
        AclSet::from_acls(iter)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catalogue_is_complete_and_unique() {
        let mut names: Vec<_> = Acl::names().collect();
        assert_eq!(names.len(), 64);
        names.sort();
        names.dedup();
        assert_eq!(names.len(), 64, "duplicate ACL names");
        assert_eq!(AclSet::initial().iter().count(), 20);
        assert_eq!(Acl::ALL.name(), "all");
        assert_eq!(Acl::MANAGE_API_TOKENS.name(), "manage-api-tokens");
        assert!(Acl::MANAGE_API_TOKENS.info().initial);
    }

    #[test]
    fn legacy_name_resolves() {
        assert_eq!(
            Acl::from_name("onlyselfandglobalpkgs"),
            Acl::from_name("viewglobalpackages")
        );
        assert!(Acl::from_name("viewglobalpackages").is_some());
    }

    #[test]
    fn parse_suggests() {
        assert_eq!(
            Acl::parse("manage-api-token").unwrap_err(),
            "unknown ACL \"manage-api-token\"; did you mean \"manage-api-tokens\"?"
        );
    }

    #[test]
    fn checkacl_semantics() {
        let list = Acl::from_name("list-accts").unwrap();
        let bob = AclSet::from_acls([list]);
        assert!(bob.check(list));
        assert!(!bob.check(Acl::MANAGE_API_TOKENS));
        let carol = AclSet::from_acls([Acl::ALL]);
        assert!(carol.check(Acl::MANAGE_API_TOKENS));
        assert!(carol.check_any(AclSet::from_acls([list])));
        assert!(!AclSet::EMPTY.check_any(AclSet::from_acls([list])));
    }

    #[test]
    fn token_limits() {
        let list = Acl::from_name("list-accts").unwrap();
        let m = Acl::MANAGE_API_TOKENS;
        let user = AclSet::from_acls([list, m]);
        let token = AclSet::from_acls([m]);
        assert_eq!(user.limit_by_token(None), user);
        assert_eq!(user.limit_by_token(Some(AclSet::from_acls([Acl::ALL]))), user);
        assert_eq!(user.limit_by_token(Some(token)), token);
        let root = AclSet::from_acls([Acl::ALL]);
        assert_eq!(root.limit_by_token(Some(token)), token);
        assert_eq!(AclSet::from_acls([list]).limit_by_token(Some(token)), AclSet::EMPTY);
    }
}
