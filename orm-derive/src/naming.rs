//! Table names from struct names, by Flask-SQLAlchemy's rule.

/// `PetHandler` -> `pet_handler`, `HTTPResponse` -> `http_response`.
///
/// Flask-SQLAlchemy 3 inserts an underscore before an uppercase letter that
/// follows a lowercase letter or digit, and before an uppercase letter that
/// starts a new word (is followed by a lowercase letter), then lowercases.
pub(crate) fn table_name(struct_name: &str) -> String {
    let chars: Vec<char> = struct_name.trim_start_matches("r#").chars().collect();
    let mut out = String::with_capacity(chars.len() + 4);
    for (i, &c) in chars.iter().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            let prev = chars[i - 1];
            let next_lower = chars.get(i + 1).is_some_and(|n| n.is_ascii_lowercase());
            if prev.is_ascii_lowercase() || prev.is_ascii_digit() || next_lower {
                out.push('_');
            }
        }
        out.extend(c.to_lowercase());
    }
    out.trim_start_matches('_').to_owned()
}

#[cfg(test)]
mod tests {
    use super::table_name;

    #[test]
    fn follows_flask_sqlalchemy() {
        assert_eq!(table_name("User"), "user");
        assert_eq!(table_name("PetHandler"), "pet_handler");
        assert_eq!(table_name("PetComnment"), "pet_comnment");
        assert_eq!(table_name("HTTPResponse"), "http_response");
        assert_eq!(table_name("ABC"), "abc");
        assert_eq!(table_name("Item2Thing"), "item2_thing");
        assert_eq!(table_name("UserDetails"), "user_details");
        assert_eq!(table_name("already_snake"), "already_snake");
        assert_eq!(table_name("My_Table"), "my__table");
    }
}
