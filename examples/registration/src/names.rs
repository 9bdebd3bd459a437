//! The forms in which usernames and email addresses are stored and
//! compared, so that two accounts cannot look alike.
//!
//! A username is stored in one canonical form: Unicode NFKC (fullwidth
//! `ａｌｉｃｅ` and the ligature `ﬁ` become `alice` and `fi`), lower case
//! (Unicode's full lower-case mapping: `Alice` is `alice`), NFKC again,
//! and every run of white space one space. Control, format (zero-width
//! spaces and joiners, the right-to-left override), private-use and
//! unassigned characters are refused, not removed: `ali<U+200B>ce` and
//! `<U+202E>ecila` are errors. This is RFC 8265's `UsernameCaseMapped`
//! profile in spirit (it stores and compares the case-mapped form), with
//! NFKC for its width mapping; lower case rather than case folding keeps
//! `ß` (folding would make `straße` and `strasse` one name).
//!
//! An email address gets the same treatment, so `ALICE@example.com` is
//! `alice@example.com`: every mail provider of note treats the local part
//! without regard to case, and the domain is case-insensitive by
//! definition.
//!
//! Because the stored value is the canonical form, the database's UNIQUE
//! constraint is what compares them: two concurrent registrations of
//! `Alice` and `ａｌｉｃｅ` cannot both succeed, on SQLite or PostgreSQL.

use unicode_normalization::UnicodeNormalization;
use unicode_properties::{GeneralCategoryGroup, UnicodeGeneralCategory};

/// Why a name or address was refused: a sentence for the form.
pub type Problem = String;

/// Whether `c` is a control, format, surrogate, private-use or unassigned
/// character (general category `C*`).
pub fn is_invisible(c: char) -> bool {
    c.general_category_group() == GeneralCategoryGroup::Other
}

/// NFKC, lower case, NFKC, white space runs as one space, trimmed.
fn canonical(text: &str) -> String {
    let lowered = text.nfkc().collect::<String>().to_lowercase();
    let normal: String = lowered.nfkc().collect();
    normal.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The stored form of a username, or why it is refused. Surrounding white
/// space (tabs and line breaks too) is trimmed first.
///
/// # Examples
///
/// ```
/// use registration::names::username;
///
/// assert_eq!(username(" Alice ").unwrap(), "alice");
/// assert_eq!(username("ａｌｉｃｅ").unwrap(), "alice");
/// assert_eq!(username("Demo\u{3000}  User").unwrap(), "demo user");
/// assert!(username("ali\u{200B}ce").is_err());
/// assert!(username("\u{202E}ecila").is_err());
/// ```
///
/// # Errors
///
/// Empty, longer than [`MAX_FIELD_CHARS`](crate::MAX_FIELD_CHARS) once
/// normalised, or with an invisible character ([`is_invisible`]).
pub fn username(input: &str) -> Result<String, Problem> {
    let (max, input) = (crate::MAX_FIELD_CHARS, input.trim());
    if input.is_empty() {
        return Err("Please enter a username.".into());
    }
    if input.chars().any(is_invisible) {
        return Err(
            "The username cannot contain control or invisible characters \
                    (such as zero-width spaces or right-to-left marks)."
                .into(),
        );
    }
    let name = canonical(input);
    if name.chars().count() > max {
        return Err(format!(
            "The username is too long (at most {max} characters)."
        ));
    }
    Ok(name)
}

/// The stored form of an email address, or why it is refused: one `@`
/// with text on both sides, no white space or invisible characters.
///
/// # Examples
///
/// ```
/// use registration::names::email;
///
/// assert_eq!(email(" ALICE@Example.COM ").unwrap(), "alice@example.com");
/// assert!(email("alice").is_err());
/// ```
///
/// # Errors
///
/// Empty, implausible, longer than
/// [`MAX_FIELD_CHARS`](crate::MAX_FIELD_CHARS), or with an invisible
/// character.
pub fn email(input: &str) -> Result<String, Problem> {
    let (max, input) = (crate::MAX_FIELD_CHARS, input.trim());
    if input.is_empty() {
        return Err("Please enter an email address.".into());
    }
    if input.chars().any(is_invisible) {
        return Err("The email address cannot contain control or invisible characters.".into());
    }
    let address = canonical(input);
    if address.chars().count() > max {
        return Err(format!(
            "The email address is too long (at most {max} characters)."
        ));
    }
    if !plausible_email(&address) {
        return Err("Please enter a valid email address, like name@example.com.".into());
    }
    Ok(address)
}

/// One `@` with text on both sides, and no spaces.
fn plausible_email(email: &str) -> bool {
    let Some((local, domain)) = email.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && !domain.is_empty()
        && !domain.contains('@')
        && !email.chars().any(char::is_whitespace)
}

/// What to show again in the form for `input`: at most
/// [`MAX_FIELD_CHARS`](crate::MAX_FIELD_CHARS) characters, invisible ones
/// left out, surrounding space trimmed. A page never echoes a megabyte.
pub fn echo(input: &str) -> String {
    input
        .trim()
        .chars()
        .filter(|&c| !is_invisible(c))
        .take(crate::MAX_FIELD_CHARS)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn look_alikes_of_alice_are_alice_or_refused() {
        for same in [
            "alice",
            "Alice",
            "ALICE",
            "ａｌｉｃｅ",
            "Ａｌｉｃｅ",
            " alice\u{3000}",
        ] {
            assert_eq!(username(same).as_deref(), Ok("alice"), "{same:?}");
        }
        for refused in [
            "ali\u{200B}ce",
            "\u{202E}ecila",
            "ali\u{200D}ce",
            "alice\u{FEFF}",
            "al\u{0007}ice",
            "ali\u{E000}ce",
            "alice\u{2066}",
        ] {
            assert!(username(refused).is_err(), "{refused:?}");
        }
    }

    #[test]
    fn case_and_width_of_emails_do_not_count() {
        for same in [
            "alice@example.com",
            "ALICE@example.com",
            "Alice@Example.Com",
            "ａｌｉｃｅ＠ｅｘａｍｐｌｅ.ｃｏｍ",
        ] {
            assert_eq!(email(same).as_deref(), Ok("alice@example.com"), "{same:?}");
        }
        for bad in [
            "ann",
            "@example.com",
            "ann@",
            "a@b@c",
            "a b@c",
            "a@b\u{7}",
            "a\u{200B}@b",
        ] {
            assert!(email(bad).is_err(), "{bad:?}");
        }
        for good in ["a@b", "o'brien@example.com", "ünï@例え.jp"] {
            assert_eq!(email(good).as_deref(), Ok(good), "{good}");
        }
    }

    #[test]
    fn lower_case_keeps_sharp_s() {
        assert_eq!(username("STRAẞE").unwrap(), "straße");
        assert_eq!(username("Straße").unwrap(), "straße");
    }

    #[test]
    fn length_is_counted_after_normalising() {
        let hundred = "É".repeat(crate::MAX_FIELD_CHARS);
        assert_eq!(
            username(&hundred).unwrap(),
            "é".repeat(crate::MAX_FIELD_CHARS)
        );
        // U+FDFA is one character that NFKC spells in 18.
        assert!(username(&"\u{FDFA}".repeat(6)).is_err());
    }

    #[test]
    fn echo_is_bounded_and_visible() {
        let huge = "x".repeat(1_500_000);
        assert_eq!(echo(&huge).len(), crate::MAX_FIELD_CHARS);
        assert_eq!(echo(" \u{202E}ecila "), "ecila");
    }
}
