//! [`Page`]: one page of a paginated query, with Flask-SQLAlchemy's
//! navigation helpers.

/// One page of results from [`Query::paginate`](crate::Query::paginate).
///
/// # Examples
///
/// ```
/// let page = orm::query::Page { items: vec!["a", "b"], page: 3, per_page: 2, total: 20 };
/// assert_eq!(page.pages(), 10);
/// assert!(page.has_prev() && page.has_next());
/// assert_eq!(
///     page.iter_pages(),
///     [Some(1), Some(2), Some(3), Some(4), Some(5), Some(6), Some(7), None, Some(9), Some(10)]
/// );
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    /// The objects on this page.
    pub items: Vec<T>,
    /// This page's number, from 1.
    pub page: u64,
    /// Items per page.
    pub per_page: u64,
    /// Matching rows in all pages.
    pub total: u64,
}

impl<T> Page<T> {
    /// The number of pages (0 when there are no rows).
    ///
    /// # Examples
    ///
    /// ```
    /// let page = orm::query::Page::<()> { items: vec![], page: 1, per_page: 10, total: 0 };
    /// assert_eq!(page.pages(), 0);
    /// ```
    pub fn pages(&self) -> u64 {
        if self.per_page == 0 {
            0
        } else {
            self.total.div_ceil(self.per_page)
        }
    }

    /// Whether there is a page before this one.
    ///
    /// # Examples
    ///
    /// ```
    /// let page = orm::query::Page::<()> { items: vec![], page: 1, per_page: 10, total: 30 };
    /// assert!(!page.has_prev());
    /// ```
    pub fn has_prev(&self) -> bool {
        self.page > 1
    }

    /// Whether there is a page after this one.
    ///
    /// # Examples
    ///
    /// ```
    /// let page = orm::query::Page::<()> { items: vec![], page: 3, per_page: 10, total: 30 };
    /// assert!(!page.has_next());
    /// ```
    pub fn has_next(&self) -> bool {
        self.page < self.pages()
    }

    /// The previous page's number.
    ///
    /// # Examples
    ///
    /// ```
    /// let page = orm::query::Page::<()> { items: vec![], page: 2, per_page: 10, total: 30 };
    /// assert_eq!(page.prev_num(), Some(1));
    /// ```
    pub fn prev_num(&self) -> Option<u64> {
        self.has_prev().then(|| self.page - 1)
    }

    /// The next page's number.
    ///
    /// # Examples
    ///
    /// ```
    /// let page = orm::query::Page::<()> { items: vec![], page: 2, per_page: 10, total: 30 };
    /// assert_eq!(page.next_num(), Some(3));
    /// ```
    pub fn next_num(&self) -> Option<u64> {
        self.has_next().then(|| self.page + 1)
    }

    /// Page numbers for a pagination widget, with `None` for a gap: the first
    /// 2 pages, 2 before and 4 after the current one, and the last 2
    /// (Flask-SQLAlchemy's defaults).
    ///
    /// # Examples
    ///
    /// ```
    /// let page = orm::query::Page::<()> { items: vec![], page: 10, per_page: 1, total: 20 };
    /// assert_eq!(
    ///     page.iter_pages(),
    ///     [Some(1), Some(2), None, Some(8), Some(9), Some(10), Some(11), Some(12), Some(13), Some(14), None, Some(19), Some(20)]
    /// );
    /// ```
    pub fn iter_pages(&self) -> Vec<Option<u64>> {
        self.iter_pages_with(2, 2, 4, 2)
    }

    /// [`iter_pages`](Self::iter_pages) with custom widths. A width larger
    /// than the number of pages (`u64::MAX`, say) shows every page on that
    /// side.
    ///
    /// # Examples
    ///
    /// ```
    /// let page = orm::query::Page::<()> { items: vec![], page: 5, per_page: 1, total: 9 };
    /// assert_eq!(page.iter_pages_with(1, 1, 1, 1), [Some(1), None, Some(4), Some(5), Some(6), None, Some(9)]);
    /// assert_eq!(
    ///     page.iter_pages_with(1, 0, u64::MAX, 0),
    ///     [Some(1), None, Some(5), Some(6), Some(7), Some(8), Some(9)]
    /// );
    /// ```
    pub fn iter_pages_with(
        &self,
        left_edge: u64,
        left_current: u64,
        right_current: u64,
        right_edge: u64,
    ) -> Vec<Option<u64>> {
        // Computed in u128: `page + right_current + 1` and `pages + 1`
        // cannot overflow there, whatever the widths (u64::MAX means "all").
        // Every page number pushed is at most `pages`, so it fits in u64.
        let wide = u128::from;
        let page = |n: u128| Some(u64::try_from(n).unwrap_or(u64::MAX));
        let mut out = Vec::new();
        let pages_end = wide(self.pages()) + 1;
        if pages_end == 1 {
            return out;
        }
        let left_end = (1 + wide(left_edge)).min(pages_end);
        out.extend((1..left_end).map(page));
        if left_end == pages_end {
            return out;
        }
        let mid_start = left_end.max(wide(self.page.saturating_sub(left_current)));
        let mid_end = (wide(self.page) + wide(right_current) + 1).min(pages_end);
        if mid_start > left_end {
            out.push(None);
        }
        out.extend((mid_start..mid_end).map(page));
        if mid_end == pages_end {
            return out;
        }
        let right_start = mid_end.max(pages_end.saturating_sub(wide(right_edge)));
        if right_start > mid_end {
            out.push(None);
        }
        out.extend((right_start..pages_end).map(page));
        out
    }
}

impl<T> Page<T> {
    /// The same page with each item turned into something else.
    ///
    /// # Errors
    ///
    /// The first error of `f`.
    ///
    /// # Examples
    ///
    /// ```
    /// let page = orm::query::Page { items: vec![1, 2], page: 1, per_page: 2, total: 2 };
    /// let doubled = page.try_map(|n| Ok::<_, orm::Error>(n * 2))?;
    /// assert_eq!(doubled.items, [2, 4]);
    /// # Ok::<(), orm::Error>(())
    /// ```
    pub fn try_map<U, E>(self, f: impl FnMut(T) -> Result<U, E>) -> Result<Page<U>, E> {
        Ok(Page {
            items: self.items.into_iter().map(f).collect::<Result<_, _>>()?,
            page: self.page,
            per_page: self.per_page,
            total: self.total,
        })
    }
}

impl<M: crate::Model + Clone> Page<crate::Obj<M>> {
    /// The page with plain model values (clones) in place of objects: a
    /// `Send` value to hand out of `Database::run` (feature `tokio`) or to
    /// a template.
    ///
    /// # Errors
    ///
    /// A borrow conflict or a reload error of one of the objects.
    ///
    /// # Examples
    ///
    /// ```
    /// use orm::prelude::*;
    /// #[derive(Model, Debug, Default, Clone)]
    /// struct User { #[orm(primary_key)] id: i64 }
    ///
    /// # fn main() -> orm::Result<()> {
    /// let db = Database::builder().model::<User>().open("sqlite://")?;
    /// db.create_all()?;
    /// let s = db.session();
    /// s.add_all((0..5).map(|_| User::default()))?;
    /// let page: orm::query::Page<User> = s.query::<User>().paginate(1, 2)?.detached()?;
    /// assert_eq!((page.items[1].id, page.pages()), (2, 3));
    /// # Ok(()) }
    /// ```
    pub fn detached(&self) -> crate::Result<Page<M>> {
        Ok(Page {
            items: self
                .items
                .iter()
                .map(|o| o.read().map(|m| m.clone()))
                .collect::<crate::Result<_>>()?,
            page: self.page,
            per_page: self.per_page,
            total: self.total,
        })
    }
}
