//! [`Few`]: a list that is almost always empty or of one element, kept
//! inline until it has two (the foreign key fills and dependencies of a
//! flush row, an object's relationship slots), so a flush or a load does
//! not allocate per row.

/// Zero or one element inline, more in a vector.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) enum Few<T> {
    #[default]
    Zero,
    One(T),
    Many(Vec<T>),
}

impl<T> Few<T> {
    /// Add `value` at the end; the element added.
    pub fn push(&mut self, value: T) -> &mut T {
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
        let all = self.as_mut_slice();
        let last = all.len() - 1;
        &mut all[last]
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

    pub fn as_mut_slice(&mut self) -> &mut [T] {
        match self {
            Few::Zero => &mut [],
            Few::One(value) => std::slice::from_mut(value),
            Few::Many(all) => all,
        }
    }

    pub fn iter(&self) -> std::slice::Iter<'_, T> {
        self.as_slice().iter()
    }

    pub fn iter_mut(&mut self) -> std::slice::IterMut<'_, T> {
        self.as_mut_slice().iter_mut()
    }

    pub fn is_empty(&self) -> bool {
        self.as_slice().is_empty()
    }

    pub fn clear(&mut self) {
        *self = Few::Zero;
    }

    /// Keep the elements for which `keep` is true, in order.
    pub fn retain(&mut self, mut keep: impl FnMut(&T) -> bool) {
        match self {
            Few::Zero => {}
            Few::One(value) => {
                if !keep(value) {
                    *self = Few::Zero;
                }
            }
            Few::Many(all) => all.retain(keep),
        }
    }
}

impl<'a, T> IntoIterator for &'a Few<T> {
    type Item = &'a T;
    type IntoIter = std::slice::Iter<'a, T>;
    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

impl<'a, T> IntoIterator for &'a mut Few<T> {
    type Item = &'a mut T;
    type IntoIter = std::slice::IterMut<'a, T>;
    fn into_iter(self) -> Self::IntoIter {
        self.iter_mut()
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

    #[test]
    fn push_gives_the_element_added_and_retain_keeps_order() {
        let mut few = Few::default();
        for n in 1..=4 {
            *few.push(n) *= 10;
        }
        assert_eq!(few.as_slice(), [10, 20, 30, 40]);
        few.retain(|n| *n != 20);
        assert_eq!(few.as_slice(), [10, 30, 40]);
        let mut one = Few::One(5);
        one.retain(|n| *n == 5);
        assert_eq!(one, Few::One(5));
        one.retain(|_| false);
        assert!(one.is_empty());
        few.iter_mut().for_each(|n| *n += 1);
        assert_eq!(few.iter().copied().collect::<Vec<_>>(), [11, 31, 41]);
        few.clear();
        assert_eq!(few, Few::Zero);
    }
}
