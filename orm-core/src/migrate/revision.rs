//! Revisions as files: the text format, the statement splitter, and the
//! chain of revisions a `migrations/` folder (or the copy embedded in a
//! binary) holds.
//!
//! A revision is a SQL file:
//!
//! ```text
//! -- orm revision
//! -- id: 3f9a1c2b7d4e
//! -- parent: none
//! -- message: add unique constraints
//! -- dialect: sqlite
//!
//! -- orm:upgrade foreign_keys=off
//! CREATE TABLE ...;
//!
//! -- orm:downgrade foreign_keys=off
//! ...;
//! ```
//!
//! Header lines (`-- key: value`) come before the first section; other
//! comments anywhere are for the reader. `foreign_keys=off` (SQLite) runs
//! the section with foreign keys switched off, checked before COMMIT.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// The first line of every revision file.
pub(crate) const MAGIC: &str = "-- orm revision";

/// One revision: a change of the schema, and the way back.
///
/// # Examples
///
/// ```
/// let text = "-- orm revision\n-- id: a1\n-- parent: none\n-- message: log table\n\n\
///             -- orm:upgrade\nCREATE TABLE log (line TEXT);\n\n-- orm:downgrade\nDROP TABLE log;\n";
/// let r = orm::migrate::Revision::parse("0001_log.sql", text)?;
/// assert_eq!((r.id(), r.parent(), r.message()), ("a1", None, "log table"));
/// assert_eq!(r.upgrade(), ["CREATE TABLE log (line TEXT)"]);
/// # Ok::<(), orm::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Revision {
    source: String,
    id: String,
    parent: Option<String>,
    message: String,
    dialect: Option<String>,
    upgrade: Section,
    downgrade: Section,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) struct Section {
    pub statements: Vec<String>,
    pub foreign_keys_off: bool,
}

impl Revision {
    /// Read a revision from its text; `source` (the file's name) is used in
    /// messages.
    ///
    /// # Errors
    ///
    /// [`Error::Revision`] when the text is not a revision: no
    /// `-- orm revision` first line, no `id`, no `-- orm:upgrade` section,
    /// an unknown section option, or a statement left unterminated.
    ///
    /// # Examples
    ///
    /// ```
    /// let err = orm::migrate::Revision::parse("x.sql", "SELECT 1;").unwrap_err();
    /// assert!(err.to_string().contains("x.sql"));
    /// ```
    pub fn parse(source: &str, text: &str) -> Result<Revision> {
        let bad = |reason: String| Error::Revision {
            revision: source.to_owned(),
            reason,
        };
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        if !text.trim_start().starts_with(MAGIC) {
            return Err(bad(format!("a revision file starts with `{MAGIC}`")));
        }
        let (mut id, mut parent, mut message, mut dialect) = (None, None, String::new(), None);
        let mut sections: Vec<(bool, Section, String)> = Vec::new();
        for line in text.lines() {
            let trimmed = line.trim();
            if let Some(marker) = trimmed.strip_prefix("-- orm:") {
                let mut words = marker.split_whitespace();
                let upgrade = match words.next() {
                    Some("upgrade") => true,
                    Some("downgrade") => false,
                    other => {
                        return Err(bad(format!(
                            "unknown section `{}`: sections are `-- orm:upgrade` and `-- orm:downgrade`",
                            other.unwrap_or("")
                        )));
                    }
                };
                if sections.iter().any(|s| s.0 == upgrade) {
                    return Err(bad(format!(
                        "two {} sections",
                        if upgrade { "upgrade" } else { "downgrade" }
                    )));
                }
                let mut section = Section::default();
                for option in words {
                    match option {
                        "foreign_keys=off" => section.foreign_keys_off = true,
                        other => {
                            return Err(bad(format!(
                                "unknown section option `{other}` (the only one is `foreign_keys=off`)"
                            )));
                        }
                    }
                }
                sections.push((upgrade, section, String::new()));
                continue;
            }
            if let Some((_, _, body)) = sections.last_mut() {
                body.push_str(line);
                body.push('\n');
                continue;
            }
            let Some(header) = trimmed.strip_prefix("--") else {
                if trimmed.is_empty() {
                    continue;
                }
                return Err(bad(
                    "SQL before the first `-- orm:upgrade` section".to_owned()
                ));
            };
            if let Some((key, value)) = header.split_once(':') {
                let value = value.trim();
                match key.trim() {
                    "id" => id = Some(value.to_owned()),
                    "parent" => {
                        parent = (!value.is_empty() && value != "none").then(|| value.to_owned())
                    }
                    "message" => message = value.to_owned(),
                    "dialect" => dialect = (!value.is_empty()).then(|| value.to_owned()),
                    _ => {}
                }
            }
        }
        let id = id
            .filter(|i| !i.is_empty())
            .ok_or_else(|| bad("no `-- id:` line in the header".into()))?;
        if id.contains(char::is_whitespace) {
            return Err(bad(format!("the id `{id}` contains spaces")));
        }
        let mut upgrade = None;
        let mut downgrade = Section::default();
        for (is_upgrade, mut section, body) in sections {
            section.statements = split_statements(&body).map_err(bad)?;
            if is_upgrade {
                upgrade = Some(section);
            } else {
                downgrade = section;
            }
        }
        let upgrade = upgrade.ok_or_else(|| bad("no `-- orm:upgrade` section".into()))?;
        Ok(Revision {
            source: source.to_owned(),
            id,
            parent,
            message,
            dialect,
            upgrade,
            downgrade,
        })
    }

    /// The revision's id.
    ///
    /// # Examples
    ///
    /// See [`Revision::parse`].
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The revision it follows, `None` for the first.
    ///
    /// # Examples
    ///
    /// See [`Revision::parse`].
    pub fn parent(&self) -> Option<&str> {
        self.parent.as_deref()
    }

    /// What it does, in the author's words.
    ///
    /// # Examples
    ///
    /// See [`Revision::parse`].
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The dialect its SQL is written for (`sqlite`, `postgresql`), when
    /// the header says.
    ///
    /// # Examples
    ///
    /// ```
    /// let r = orm::migrate::Revision::parse("a.sql", "-- orm revision\n-- id: a\n-- dialect: sqlite\n-- orm:upgrade\n")?;
    /// assert_eq!(r.dialect(), Some("sqlite"));
    /// # Ok::<(), orm::Error>(())
    /// ```
    pub fn dialect(&self) -> Option<&str> {
        self.dialect.as_deref()
    }

    /// The file (or embedded name) it was read from.
    ///
    /// # Examples
    ///
    /// See [`Revision::parse`].
    pub fn source(&self) -> &str {
        &self.source
    }

    /// The statements of the upgrade.
    ///
    /// # Examples
    ///
    /// See [`Revision::parse`].
    pub fn upgrade(&self) -> &[String] {
        &self.upgrade.statements
    }

    /// The statements of the downgrade.
    ///
    /// # Examples
    ///
    /// ```
    /// let r = orm::migrate::Revision::parse("a.sql", "-- orm revision\n-- id: a\n-- orm:upgrade\nCREATE TABLE t (x INT);\n-- orm:downgrade\nDROP TABLE t;")?;
    /// assert_eq!(r.downgrade(), ["DROP TABLE t"]);
    /// # Ok::<(), orm::Error>(())
    /// ```
    pub fn downgrade(&self) -> &[String] {
        &self.downgrade.statements
    }

    pub(crate) fn section(&self, upgrade: bool) -> &Section {
        if upgrade {
            &self.upgrade
        } else {
            &self.downgrade
        }
    }
}

/// The revisions of an application, in order from the first to the head.
///
/// Read from a folder at run time ([`Migrations::from_dir`], what the
/// `db` command does during development) or embedded in the binary at
/// compile time ([`embed_migrations!`](crate::embed_migrations), for
/// programs that migrate at start-up).
///
/// # Examples
///
/// ```
/// use orm::migrate::Migrations;
/// let m = Migrations::from_sources(&[
///     ("0002_b.sql", "-- orm revision\n-- id: b\n-- parent: a\n-- orm:upgrade\n"),
///     ("0001_a.sql", "-- orm revision\n-- id: a\n-- parent: none\n-- orm:upgrade\n"),
/// ])?;
/// let ids: Vec<&str> = m.revisions().iter().map(|r| r.id()).collect();
/// assert_eq!(ids, ["a", "b"]);
/// assert_eq!(m.head().map(|r| r.id()), Some("b"));
/// # Ok::<(), orm::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Migrations {
    revisions: Vec<Revision>,
    dir: Option<PathBuf>,
}

impl Migrations {
    /// No revisions.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(orm::migrate::Migrations::new().revisions().is_empty());
    /// ```
    pub fn new() -> Migrations {
        Migrations::default()
    }

    /// The revisions in the `*.sql` files of `dir`.
    ///
    /// # Errors
    ///
    /// [`Error::Revision`] when the folder cannot be read, a file is not a
    /// revision, or the revisions do not form one chain (see
    /// [`from_sources`](Self::from_sources)).
    ///
    /// # Examples
    ///
    /// ```
    /// let dir = tempfile::tempdir().unwrap();
    /// let m = orm::migrate::Migrations::from_dir(dir.path())?;
    /// assert!(m.revisions().is_empty());
    /// # Ok::<(), orm::Error>(())
    /// ```
    pub fn from_dir(dir: impl AsRef<Path>) -> Result<Migrations> {
        let dir = dir.as_ref();
        let unreadable = |e: std::io::Error| Error::Revision {
            revision: dir.display().to_string(),
            reason: format!("cannot read the migrations folder: {e} (create it with `db init`)"),
        };
        let mut files = Vec::new();
        for entry in std::fs::read_dir(dir).map_err(unreadable)? {
            let path = entry.map_err(unreadable)?.path();
            if path.extension().is_some_and(|e| e == "sql") && path.is_file() {
                let text = std::fs::read_to_string(&path).map_err(|e| Error::Revision {
                    revision: path.display().to_string(),
                    reason: format!("cannot read it: {e}"),
                })?;
                files.push((path.display().to_string(), text));
            }
        }
        files.sort();
        let sources: Vec<(&str, &str)> = files.iter().map(|(p, t)| (&p[..], &t[..])).collect();
        let mut m = Migrations::from_sources(&sources)?;
        m.dir = Some(dir.to_owned());
        Ok(m)
    }

    /// The revisions in `(name, text)` pairs: what
    /// [`embed_migrations!`](crate::embed_migrations) expands to.
    ///
    /// # Errors
    ///
    /// [`Error::Revision`] when a text is not a revision, two revisions
    /// share an id, a parent is missing, two revisions follow the same one
    /// (a branch: make one follow the other), or none is the first.
    ///
    /// # Examples
    ///
    /// ```
    /// use orm::migrate::Migrations;
    /// let branch = Migrations::from_sources(&[
    ///     ("a.sql", "-- orm revision\n-- id: a\n-- orm:upgrade\n"),
    ///     ("b.sql", "-- orm revision\n-- id: b\n-- parent: a\n-- orm:upgrade\n"),
    ///     ("c.sql", "-- orm revision\n-- id: c\n-- parent: a\n-- orm:upgrade\n"),
    /// ]);
    /// assert!(branch.unwrap_err().to_string().contains("both follow"));
    /// ```
    pub fn from_sources(sources: &[(&str, &str)]) -> Result<Migrations> {
        let mut all = Vec::with_capacity(sources.len());
        for (name, text) in sources {
            all.push(Revision::parse(name, text)?);
        }
        let chain = |revision: &str, reason: String| Error::Revision {
            revision: revision.to_owned(),
            reason,
        };
        for (i, r) in all.iter().enumerate() {
            if let Some(other) = all[..i].iter().find(|o| o.id == r.id) {
                return Err(chain(
                    &r.source,
                    format!("its id `{}` is also the id of {}", r.id, other.source),
                ));
            }
            if let Some(p) = &r.parent
                && !all.iter().any(|o| &o.id == p)
            {
                return Err(chain(
                    &r.source,
                    format!("its parent `{p}` is not among the revisions"),
                ));
            }
        }
        // Walk the chain from its first revision: a loop, however long.
        let mut ordered: Vec<Revision> = Vec::with_capacity(all.len());
        let mut next: Option<&str> = None;
        loop {
            let children: Vec<&Revision> =
                all.iter().filter(|r| r.parent.as_deref() == next).collect();
            match children.as_slice() {
                [] => break,
                [one] => {
                    ordered.push((*one).clone());
                    next = Some(&one.id);
                }
                [a, b, ..] => {
                    return Err(chain(
                        &b.source,
                        format!(
                            "{} and {} both follow {}: revisions form one line; make one of them follow the other",
                            a.id,
                            b.id,
                            next.unwrap_or("the start (parent: none)")
                        ),
                    ));
                }
            }
        }
        if ordered.len() != all.len() {
            let stray = all
                .iter()
                .find(|r| !ordered.iter().any(|o| o.id == r.id))
                .map_or("", |r| r.source.as_str());
            return Err(chain(
                stray,
                "it is not reached from the first revision (its parents form a loop)".into(),
            ));
        }
        Ok(Migrations {
            revisions: ordered,
            dir: None,
        })
    }

    /// The revisions, first to head.
    ///
    /// # Examples
    ///
    /// See [`Migrations`].
    pub fn revisions(&self) -> &[Revision] {
        &self.revisions
    }

    /// The last revision.
    ///
    /// # Examples
    ///
    /// See [`Migrations`].
    pub fn head(&self) -> Option<&Revision> {
        self.revisions.last()
    }

    /// The folder they were read from, if any.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(orm::migrate::Migrations::new().dir().is_none());
    /// ```
    pub fn dir(&self) -> Option<&Path> {
        self.dir.as_deref()
    }

    /// The position of the revision `id` names: a full id or an unambiguous
    /// prefix of one.
    pub(crate) fn position(&self, id: &str) -> Result<usize> {
        if let Some(i) = self.revisions.iter().position(|r| r.id == id) {
            return Ok(i);
        }
        let found: Vec<usize> = (0..self.revisions.len())
            .filter(|&i| !id.is_empty() && self.revisions[i].id.starts_with(id))
            .collect();
        match found.as_slice() {
            [one] => Ok(*one),
            [] => Err(Error::Revision {
                revision: id.to_owned(),
                reason: "no revision has this id".into(),
            }),
            _ => Err(Error::Revision {
                revision: id.to_owned(),
                reason: "several revisions start with this id: give more of it".into(),
            }),
        }
    }

    /// The state a target names, as the number of revisions applied:
    /// `head`, `base` (none), an id or prefix, or `+n` / `-n` from
    /// `current` (revisions applied now).
    pub(crate) fn resolve(&self, target: &str, current: usize) -> Result<usize> {
        let bad = |reason: &str| Error::Revision {
            revision: target.to_owned(),
            reason: reason.to_owned(),
        };
        match target {
            "head" | "heads" => Ok(self.revisions.len()),
            "base" => Ok(0),
            t if t.starts_with(['+', '-']) && t.len() > 1 => {
                let n: usize = t[1..]
                    .parse()
                    .map_err(|_| bad("a relative target is +N or -N"))?;
                let out = if t.starts_with('+') {
                    current
                        .checked_add(n)
                        .filter(|&v| v <= self.revisions.len())
                } else {
                    current.checked_sub(n)
                };
                out.ok_or_else(|| bad("goes past the first or the last revision"))
            }
            id => self.position(id).map(|i| i + 1),
        }
    }
}

/// Split SQL text into statements at the semicolons that end them: not
/// those inside quotes (`'...'`, `"..."`, `` `...` ``, `[...]`), comments
/// (`--`, `/* */`), PostgreSQL's dollar quotes (`$$...$$`, `$tag$...$tag$`),
/// or between the `BEGIN` and `END` of a `CREATE TRIGGER`. Comments are
/// kept inside the statements they are in; empty statements are dropped.
///
/// # Errors
///
/// The reason, when the text ends inside a quote, a comment or a trigger.
pub(crate) fn split_statements(sql: &str) -> std::result::Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut current = String::new();
    // Words of the current statement (upper case), for CREATE TRIGGER.
    let mut words: Vec<String> = Vec::new();
    let mut word = String::new();
    let mut depth_begin = 0usize;
    let chars: Vec<char> = sql.chars().collect();
    let mut i = 0;
    let end_word = |word: &mut String, words: &mut Vec<String>, depth: &mut usize| {
        if word.is_empty() {
            return;
        }
        let w = std::mem::take(word).to_ascii_uppercase();
        let trigger = words.first().is_some_and(|f| f == "CREATE")
            && words.iter().take(4).any(|w| w == "TRIGGER");
        if trigger {
            match w.as_str() {
                "BEGIN" => *depth += 1,
                "END" => *depth = depth.saturating_sub(1),
                _ => {}
            }
        }
        if words.len() < 8 {
            words.push(w);
        }
    };
    while i < chars.len() {
        let c = chars[i];
        match c {
            '\'' | '"' | '`' | '[' => {
                end_word(&mut word, &mut words, &mut depth_begin);
                let close = if c == '[' { ']' } else { c };
                current.push(c);
                i += 1;
                loop {
                    let Some(&d) = chars.get(i) else {
                        return Err(format!("the text ends inside a {c}...{close} quote"));
                    };
                    current.push(d);
                    i += 1;
                    if d == close {
                        // A doubled quote is a quote character, not the end.
                        if close != ']' && chars.get(i) == Some(&close) {
                            current.push(close);
                            i += 1;
                            continue;
                        }
                        break;
                    }
                }
                continue;
            }
            '-' if chars.get(i + 1) == Some(&'-') => {
                end_word(&mut word, &mut words, &mut depth_begin);
                while i < chars.len() && chars[i] != '\n' {
                    current.push(chars[i]);
                    i += 1;
                }
                continue;
            }
            '/' if chars.get(i + 1) == Some(&'*') => {
                end_word(&mut word, &mut words, &mut depth_begin);
                current.push_str("/*");
                i += 2;
                loop {
                    if i + 1 >= chars.len() {
                        return Err("the text ends inside a /* comment".into());
                    }
                    if chars[i] == '*' && chars[i + 1] == '/' {
                        current.push_str("*/");
                        i += 2;
                        break;
                    }
                    current.push(chars[i]);
                    i += 1;
                }
                continue;
            }
            '$' if word.is_empty() => {
                // A dollar quote: $tag$ ... $tag$.
                let tag_end = chars[i + 1..]
                    .iter()
                    .position(|&d| !(d.is_alphanumeric() || d == '_'))
                    .map(|p| i + 1 + p);
                if let Some(e) = tag_end.filter(|&e| chars[e] == '$') {
                    let tag: String = chars[i..=e].iter().collect();
                    current.push_str(&tag);
                    i = e + 1;
                    let rest: String = chars[i..].iter().collect();
                    let Some(close) = rest.find(&tag) else {
                        return Err(format!("the text ends inside a {tag} quote"));
                    };
                    current.push_str(&rest[..close + tag.len()]);
                    i += rest[..close + tag.len()].chars().count();
                    continue;
                }
                current.push(c);
            }
            ';' => {
                end_word(&mut word, &mut words, &mut depth_begin);
                if depth_begin > 0 {
                    current.push(c);
                } else {
                    push_statement(&mut out, &current);
                    current.clear();
                    words.clear();
                }
            }
            c if c.is_alphanumeric() || c == '_' || (c == '$' && !word.is_empty()) => {
                word.push(c);
                current.push(c);
            }
            _ => {
                end_word(&mut word, &mut words, &mut depth_begin);
                current.push(c);
            }
        }
        i += 1;
    }
    end_word(&mut word, &mut words, &mut depth_begin);
    if depth_begin > 0 {
        return Err("the text ends inside a CREATE TRIGGER's BEGIN ... END".into());
    }
    push_statement(&mut out, &current);
    Ok(out)
}

/// Keep a statement unless it is only blanks and comments.
fn push_statement(out: &mut Vec<String>, text: &str) {
    let trimmed = text.trim();
    let only_comments = trimmed.lines().all(|l| {
        let l = l.trim();
        l.is_empty() || l.starts_with("--")
    }) && !trimmed.contains("/*");
    if !trimmed.is_empty() && !only_comments {
        out.push(strip_leading_comments(trimmed).to_owned());
    }
}

/// The statement without the comment lines above it (the file's comments
/// describe the statements; the database needs none of them).
fn strip_leading_comments(s: &str) -> &str {
    let mut rest = s;
    loop {
        let t = rest.trim_start();
        if t.starts_with("--") {
            rest = t.split_once('\n').map_or("", |(_, r)| r);
        } else {
            return t;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_split_at_their_semicolons_only() {
        let sql = "-- a comment; not a statement\nCREATE TABLE \"a;b\" (x TEXT DEFAULT 'it''s; fine');\n\
                   /* ; */ INSERT INTO t VALUES (';');\n\
                   CREATE TRIGGER tr AFTER INSERT ON t BEGIN INSERT INTO log VALUES (1); UPDATE c SET n = n + 1; END;\n\
                   CREATE FUNCTION f() RETURNS int AS $body$ SELECT 1; $body$ LANGUAGE sql;\n\
                   SELECT $1;\n";
        let parts = split_statements(sql).unwrap();
        assert_eq!(
            parts,
            [
                "CREATE TABLE \"a;b\" (x TEXT DEFAULT 'it''s; fine')",
                "/* ; */ INSERT INTO t VALUES (';')",
                "CREATE TRIGGER tr AFTER INSERT ON t BEGIN INSERT INTO log VALUES (1); UPDATE c SET n = n + 1; END",
                "CREATE FUNCTION f() RETURNS int AS $body$ SELECT 1; $body$ LANGUAGE sql",
                "SELECT $1",
            ]
        );
    }

    #[test]
    fn unterminated_text_is_an_error() {
        assert!(split_statements("SELECT 'x").is_err());
        assert!(split_statements("/* x").is_err());
        assert!(split_statements("CREATE TRIGGER t AFTER INSERT ON x BEGIN SELECT 1;").is_err());
        assert_eq!(
            split_statements("-- only a comment\n;;").unwrap(),
            Vec::<String>::new()
        );
    }

    #[test]
    fn headers_and_sections_are_read() {
        let text = "-- orm revision\n-- id: abc\n-- parent: xyz\n-- message: add: colons too\n-- dialect: postgresql\n--\n-- notes\n\n\
                    -- orm:upgrade foreign_keys=off\n-- what it does\nALTER TABLE t ADD x INT;\n-- orm:downgrade\nALTER TABLE t DROP x;\n";
        let r = Revision::parse("f.sql", text).unwrap();
        assert_eq!(r.id(), "abc");
        assert_eq!(r.parent(), Some("xyz"));
        assert_eq!(r.message(), "add: colons too");
        assert_eq!(r.dialect(), Some("postgresql"));
        assert!(r.section(true).foreign_keys_off);
        assert!(!r.section(false).foreign_keys_off);
        assert_eq!(r.upgrade(), ["ALTER TABLE t ADD x INT"]);
        assert!(
            Revision::parse("f.sql", "-- orm revision\n-- id: a\n-- orm:upgrade bogus\n").is_err()
        );
        assert!(Revision::parse("f.sql", "-- orm revision\n-- orm:upgrade\n").is_err());
    }

    #[test]
    fn targets_resolve_to_positions() {
        let m = Migrations::from_sources(&[
            ("1", "-- orm revision\n-- id: aa11\n-- orm:upgrade\n"),
            (
                "2",
                "-- orm revision\n-- id: ab22\n-- parent: aa11\n-- orm:upgrade\n",
            ),
        ])
        .unwrap();
        assert_eq!(m.resolve("head", 0).unwrap(), 2);
        assert_eq!(m.resolve("base", 2).unwrap(), 0);
        assert_eq!(m.resolve("aa", 0).unwrap(), 1);
        assert_eq!(m.resolve("-1", 2).unwrap(), 1);
        assert_eq!(m.resolve("+1", 1).unwrap(), 2);
        assert!(m.resolve("a", 0).is_err());
        assert!(m.resolve("+3", 0).is_err());
        assert!(m.resolve("-1", 0).is_err());
    }
}
