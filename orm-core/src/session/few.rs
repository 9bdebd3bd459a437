//! [`Few`]: a list that is almost always empty or of one element, kept
//! inline until it has two (the foreign key fills and dependencies of a
//! flush row), so a flush does not allocate per row.

/// Zero or one element inline, more in a vector.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) enum Few<T> {
    #[default]
    Zero,
    One(T),
    Many(Vec<T>),
}

impl<T> Few<T> {
    pub fn push(&mut self, value: T) {
        // Written in place for the common cases (empty, or a list) rather
        // than the whole enum moved out and back.
        match self {
            Few::Zero => *self = Few::One(value),
            Few::Many(all) => all.push(value),
            Few::One(_) => {
                let mut all = std::mem::take(self).into_vec();
                all.push(value);
                *self = Few::Many(all);
            }
        }
    }

    /// The elements as a list with room for one more.
    fn into_vec(self) -> Vec<T> {
        match self {
            Few::Zero => Vec::new(),
            Few::One(value) => {
                let mut all = Vec::with_capacity(2);
                all.push(value);
                all
            }
            Few::Many(all) => all,
        }
    }

    pub fn as_slice(&self) -> &[T] {
        match self {
            Few::Zero => &[],
            Few::One(value) => std::slice::from_ref(value),
            Few::Many(all) => all,
        }
    }
}

impl<T> Extend<T> for Few<T> {
    fn extend<I: IntoIterator<Item = T>>(&mut self, iter: I) {
        for value in iter {
            self.push(value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Few;

    #[test]
    fn keeps_push_order_at_every_size() {
        let mut few = Few::default();
        assert!(few.as_slice().is_empty());
        for n in 1..=5 {
            few.push(n);
            assert_eq!(few.as_slice(), (1..=n).collect::<Vec<_>>());
        }
        let mut one = Few::default();
        one.extend(Some(7));
        one.extend(None);
        assert_eq!(one, Few::One(7));
    }
}
