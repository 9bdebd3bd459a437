//! `Serialize` for objects and pages (feature `serde`), so they go
//! straight into templates and JSON: an [`Obj`] serializes as its model
//! does (read through the object, reloading it if expired), a [`Page`] as
//! its items and its navigation numbers.

use serde::ser::{Error as _, Serialize, SerializeStruct, Serializer};

use crate::model::Model;
use crate::query::Page;
use crate::session::Obj;

/// An object serializes as its model's value.
///
/// # Examples
///
/// ```
/// use orm::prelude::*;
///
/// #[derive(Model, Debug, Default, serde::Serialize)]
/// struct User { #[orm(primary_key)] id: i64, name: String }
///
/// let ann = Obj::new(User { id: 1, name: "ann".into() });
/// assert_eq!(serde_json::to_string(&ann).unwrap(), r#"{"id":1,"name":"ann"}"#);
/// ```
#[cfg(feature = "serde")]
impl<M: Model + Serialize> Serialize for Obj<M> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let value = self.read().map_err(S::Error::custom)?;
        value.serialize(serializer)
    }
}

/// A page serializes as `items`, `page`, `per_page`, `total`, `pages`,
/// `has_prev`, `has_next`, `prev_num` and `next_num`: what a template's
/// pager needs.
///
/// # Examples
///
/// ```
/// let page = orm::query::Page { items: vec![1, 2], page: 1, per_page: 2, total: 3 };
/// assert_eq!(
///     serde_json::to_string(&page).unwrap(),
///     r#"{"items":[1,2],"page":1,"per_page":2,"total":3,"pages":2,"has_prev":false,"has_next":true,"prev_num":null,"next_num":2}"#
/// );
/// ```
#[cfg(feature = "serde")]
impl<T: Serialize> Serialize for Page<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut s = serializer.serialize_struct("Page", 9)?;
        s.serialize_field("items", &self.items)?;
        s.serialize_field("page", &self.page)?;
        s.serialize_field("per_page", &self.per_page)?;
        s.serialize_field("total", &self.total)?;
        s.serialize_field("pages", &self.pages())?;
        s.serialize_field("has_prev", &self.has_prev())?;
        s.serialize_field("has_next", &self.has_next())?;
        s.serialize_field("prev_num", &self.prev_num())?;
        s.serialize_field("next_num", &self.next_num())?;
        s.end()
    }
}
