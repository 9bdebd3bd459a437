//! `Serialize` for objects and pages (feature `serde`), so they go
//! straight into templates and JSON.
//!
//! An [`Obj`] serializes as a map of its fields (as stored: a timestamp is
//! its text, a boolean `true` / `false`), plus every relationship already
//! loaded on it (by eager loading, navigation or assignment), one level
//! deep: `post.author.username` and `post.tags` in a template, after
//! `load(selectin(Post::author))`. Related objects serialize their fields
//! only, so cycles (a post's author's posts) cannot recur, and nothing is
//! loaded while serializing. A [`Page`] serializes as its items and its
//! navigation numbers.

use std::rc::Rc;

use serde::ser::{Error as _, Serialize, SerializeMap, SerializeStruct, Serializer};

use crate::model::Model;
use crate::query::Page;
use crate::schema::ColumnDef;
use crate::session::Obj;
use crate::session::obj::ErasedObj;
use crate::session::rel::slots::RelValue;
use crate::types::Value;

/// An object serializes as its fields and its loaded relationships.
///
/// # Examples
///
/// ```
/// use orm::prelude::*;
/// use orm::relation::selectin;
///
/// #[derive(Model, Debug, Default)]
/// #[orm(has_many(posts = Post, backref = "author"))]
/// struct User { id: i64, name: String }
///
/// #[derive(Model, Debug, Default)]
/// struct Post { id: i64, title: String, #[orm(foreign_key = User::id)] author_id: i64 }
///
/// # fn main() -> orm::Result<()> {
/// let db = Database::builder().model::<Post>().open("sqlite://")?;
/// db.create_all()?;
/// let s = db.session();
/// let ann = s.add(orm::obj!(User { name: "ann" }))?;
/// ann.append(User::posts, &orm::obj!(Post { title: "Hi" }))?;
/// s.commit()?;
///
/// let s = db.session();
/// let post = s.query::<Post>().load(selectin(Post::author)).one()?;
/// assert_eq!(
///     serde_json::to_string(&post).unwrap(),
///     r#"{"id":1,"title":"Hi","author_id":1,"author":{"id":1,"name":"ann"}}"#
/// );
/// # Ok(()) }
/// ```
#[cfg(feature = "serde")]
impl<M: Model> Serialize for Obj<M> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        // Reload an expired object first, as any read does.
        drop(self.read().map_err(S::Error::custom)?);
        Fields {
            obj: &self.erased(),
            related: true,
        }
        .serialize(serializer)
    }
}

/// One object's fields, and with `related` its loaded relationships.
struct Fields<'a> {
    obj: &'a Rc<dyn ErasedObj>,
    related: bool,
}

/// A loaded relationship's objects, as they are to be written.
enum Loaded {
    One(Option<Rc<dyn ErasedObj>>),
    Many(Vec<Rc<dyn ErasedObj>>),
}

impl Serialize for Fields<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let table = self.obj.table();
        // Copied out first: no borrow of the slots is held while writing.
        let loaded: Vec<(&'static str, Loaded)> = match self.obj.rels_with_noted() {
            Some(rels) if self.related => {
                let rels = rels.try_borrow().map_err(S::Error::custom)?;
                rels.slots
                    .iter()
                    .filter(|slot| slot.loaded)
                    .map(|slot| {
                        let value = match &slot.value {
                            RelValue::Many(items) => Loaded::Many(items.to_vec()),
                            RelValue::One(item) => Loaded::One(item.clone()),
                            RelValue::Up(parent) => {
                                Loaded::One(parent.as_ref().and_then(|w| w.upgrade()))
                            }
                        };
                        (slot.side.name(), value)
                    })
                    .collect()
            }
            _ => Vec::new(),
        };
        let mut map = serializer.serialize_map(Some(table.columns.len() + loaded.len()))?;
        for (i, column) in table.columns.iter().enumerate() {
            let value = self.obj.column_value(i).map_err(S::Error::custom)?;
            map.serialize_entry(column.field, &Stored { value, column })?;
        }
        for (name, value) in &loaded {
            let fields = |obj| Fields {
                obj,
                related: false,
            };
            match value {
                Loaded::One(item) => map.serialize_entry(name, &item.as_ref().map(fields))?,
                Loaded::Many(items) => {
                    let items: Vec<Fields<'_>> = items.iter().map(fields).collect();
                    map.serialize_entry(name, &items)?;
                }
            }
        }
        map.end()
    }
}

/// A column's value as stored; a BOOLEAN column's 0 / 1 as a boolean.
struct Stored<'a> {
    value: Value,
    column: &'a ColumnDef,
}

impl Serialize for Stored<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match &self.value {
            Value::Null => serializer.serialize_none(),
            Value::Integer(i) if self.column.sql_type == "BOOLEAN" => {
                serializer.serialize_bool(*i != 0)
            }
            Value::Integer(i) => serializer.serialize_i64(*i),
            Value::Real(r) => serializer.serialize_f64(*r),
            Value::Text(t) => serializer.serialize_str(t),
            Value::Blob(b) => serializer.serialize_bytes(b),
        }
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
