//! Key values in a hashable form, for matching rows by key (relationship
//! loading groups children by foreign key; the flush finds rows that point
//! at rows inserted or deleted in the same flush).

use crate::types::Value;

/// One column of a key. Reals compare by value, so 1.0 in one table
/// matches 1 in another.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum KeyPart {
    Null,
    Int(i64),
    Real(u64),
    Text(String),
    Blob(Vec<u8>),
}

impl KeyPart {
    fn real(r: f64) -> KeyPart {
        if r.fract() == 0.0 && r.abs() < 9.0e15 {
            KeyPart::Int(r as i64)
        } else {
            KeyPart::Real(r.to_bits())
        }
    }

    fn of(v: &Value) -> KeyPart {
        match v {
            Value::Null => KeyPart::Null,
            Value::Integer(i) => KeyPart::Int(*i),
            Value::Real(r) => KeyPart::real(*r),
            Value::Text(s) => KeyPart::Text(s.clone()),
            Value::Blob(b) => KeyPart::Blob(b.clone()),
        }
    }

    fn from_value(v: Value) -> KeyPart {
        match v {
            Value::Text(s) => KeyPart::Text(s),
            Value::Blob(b) => KeyPart::Blob(b),
            other => KeyPart::of(&other),
        }
    }
}

/// Key values in a hashable form. A single integer, the usual key, is kept
/// apart, so building and hashing it allocates nothing.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum Key {
    Int(i64),
    Parts(Vec<KeyPart>),
}

impl Key {
    fn from_parts(parts: Vec<KeyPart>) -> Key {
        match parts.as_slice() {
            [KeyPart::Int(i)] => Key::Int(*i),
            _ => Key::Parts(parts),
        }
    }
}

/// The hashable form of key values.
#[inline]
pub(crate) fn key_of(values: &[Value]) -> Key {
    match values {
        // The usual key, without building a part first.
        [Value::Integer(i)] => Key::Int(*i),
        [v] => match KeyPart::of(v) {
            KeyPart::Int(i) => Key::Int(i),
            part => Key::Parts(vec![part]),
        },
        _ => Key::from_parts(values.iter().map(KeyPart::of).collect()),
    }
}

/// The hashable form of owned key values, without copying text or blobs.
pub(crate) fn into_key(values: Vec<Value>) -> Key {
    Key::from_parts(values.into_iter().map(KeyPart::from_value).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reals_with_integer_values_match_integers() {
        assert_eq!(key_of(&[Value::Real(3.0)]), key_of(&[Value::Integer(3)]));
        assert_ne!(key_of(&[Value::Real(3.5)]), key_of(&[Value::Integer(3)]));
        assert_ne!(
            key_of(&[Value::Text("3".into())]),
            key_of(&[Value::Integer(3)])
        );
        assert_eq!(
            into_key(vec![Value::Text("a".into()), Value::Null]),
            key_of(&[Value::Text("a".into()), Value::Null])
        );
        // One integer column needs no allocation, whichever way it is made.
        assert_eq!(key_of(&[Value::Integer(7)]), Key::Int(7));
        assert_eq!(into_key(vec![Value::Real(7.0)]), Key::Int(7));
        assert_ne!(key_of(&[Value::Integer(7), Value::Integer(1)]), Key::Int(7));
    }
}
