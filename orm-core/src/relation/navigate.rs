//! Navigating and changing relationships through objects:
//! [`Obj::related`], [`Obj::append`], [`Obj::remove`], [`Obj::set_related`].
//!
//! Both ends stay in sync in memory: appending a pet to a handler's
//! collection sets the pet's handler, setting a pet's handler adds it to that
//! handler's loaded collection, and removal likewise. Foreign keys are
//! written from the related objects at flush, also when the parent is new in
//! the same flush.

use std::borrow::Borrow;
use std::rc::Rc;

use super::handle::{CollectionRelation, Relation, ScalarRelation, typed};
use crate::error::{Error, Result};
use crate::model::Model;
use crate::schema::Role;
use crate::session::Obj;
use crate::session::obj::{ErasedObj, Status};
use crate::session::rel::slots::{is_loaded, loaded_items, reorder};
use crate::session::state::SessionInner;

impl<M: Model> Obj<M> {
    /// Load `rel` if it is not loaded yet (one query, after an autoflush).
    fn ensure_loaded(&self, side: crate::schema::Side) -> Result<()> {
        let erased = self.erased();
        if self.inner.status.get() == Status::Detached {
            return Err(Error::Detached {
                model: M::table().model,
                action: "load a relationship",
            });
        }
        if is_loaded(&erased, side) {
            return Ok(());
        }
        if let Some(session) = self.session() {
            if self.is_expired() {
                drop(self.read()?);
            }
            // A pending object's collections are what was appended to them:
            // no row can point at it yet, so there is nothing to flush or
            // select (`load_side` loads only a reference it was given by
            // key).
            if self.inner.status.get() != Status::Pending {
                session.autoflush()?;
            }
            session.load_side(side, &[erased])?;
        }
        Ok(())
    }

    /// The session to record a change in: this object's, else `other`'s.
    /// Detached objects cannot change relationships: their session is gone.
    fn change_session(
        &self,
        other: Option<&Rc<dyn ErasedObj>>,
    ) -> Result<Option<Rc<SessionInner>>> {
        let detached = |o: &dyn ErasedObj| o.status() == Status::Detached;
        if detached(&*self.inner) || other.is_some_and(|o| detached(&**o)) {
            return Err(Error::Detached {
                model: M::table().model,
                action: "change a relationship",
            });
        }
        let mine = self.session();
        let theirs = other.and_then(|o| o.session_ptr());
        match (mine, theirs) {
            (Some(a), Some(b)) if !Rc::ptr_eq(&a, &b) => Err(Error::WrongSession {
                model: other.map(|o| o.table().model).unwrap_or(M::table().model),
            }),
            (Some(a), _) => Ok(Some(a)),
            (None, b) => Ok(b),
        }
    }

    /// The objects related through `rel`: a `Vec` for a collection, an
    /// `Option` for a reference. Loaded on first access (one query) and then
    /// cached on the object until it is expired or refreshed.
    ///
    /// # Errors
    ///
    /// [`Error::Detached`] for an object whose session is gone; database
    /// errors while loading.
    ///
    /// # Examples
    ///
    /// ```
    /// use orm::prelude::*;
    ///
    /// #[derive(Model, Debug, Default)]
    /// #[orm(has_many(pets = Pet, backref = "owner"))]
    /// struct Person { #[orm(primary_key)] id: i64, name: String }
    ///
    /// #[derive(Model, Debug, Default)]
    /// struct Pet {
    ///     #[orm(primary_key)] id: i64,
    ///     name: String,
    ///     #[orm(foreign_key = Person::id)] person_id: i64,
    /// }
    ///
    /// # fn main() -> orm::Result<()> {
    /// let db = Database::builder().model::<Person>().open("sqlite://")?;
    /// db.create_all()?;
    /// let s = db.session();
    /// let ann = s.add(Person { name: "Ann".into(), ..Default::default() })?;
    /// ann.append(Person::pets, &Obj::new(Pet { name: "Rex".into(), ..Default::default() }))?;
    /// s.commit()?;
    ///
    /// let s2 = db.session();
    /// let rex = s2.query::<Pet>().one()?;
    /// let owner = rex.related(Pet::owner)?.unwrap();
    /// assert_eq!(owner.read()?.name, "Ann");
    /// assert_eq!(owner.related(Person::pets)?.len(), 1);
    /// # Ok(()) }
    /// ```
    pub fn related<R: Relation<From = M>>(&self, rel: R) -> Result<R::Output> {
        let side = rel.__side();
        self.ensure_loaded(side)?;
        let items = loaded_items(&self.erased(), side).unwrap_or_default();
        let typed = items
            .into_iter()
            .map(typed::<R::To>)
            .collect::<Result<Vec<_>>>()?;
        Ok(R::__output(typed))
    }

    /// Add `item` to a collection. The item's reference to this object is
    /// set too (in memory now, in its foreign key at flush), it leaves its
    /// previous parent's collection, and if it is new it joins this object's
    /// session (the `save-update` cascade).
    ///
    /// # Errors
    ///
    /// [`Error::WrongSession`] when the two objects belong to different
    /// sessions; loading errors.
    ///
    /// # Examples
    ///
    /// ```
    /// use orm::prelude::*;
    ///
    /// #[derive(Model, Debug, Default)]
    /// #[orm(has_many(pets = Pet, backref = "owner"))]
    /// struct Person { #[orm(primary_key)] id: i64 }
    ///
    /// #[derive(Model, Debug, Default)]
    /// struct Pet { #[orm(primary_key)] id: i64, #[orm(foreign_key = Person::id)] person_id: i64 }
    ///
    /// # fn main() -> orm::Result<()> {
    /// let db = Database::builder().model::<Person>().open("sqlite://")?;
    /// db.create_all()?;
    /// let s = db.session();
    /// let ann = s.add(Person::default())?;
    /// let rex = Obj::new(Pet::default());
    /// ann.append(Person::pets, &rex)?;
    /// assert!(rex.related(Pet::owner)?.unwrap() == ann); // synced in memory
    /// s.commit()?;                                         // rex added by cascade
    /// assert_eq!(rex.read()?.person_id, ann.read()?.id);   // key filled at flush
    /// # Ok(()) }
    /// ```
    pub fn append<R: CollectionRelation<From = M>>(&self, rel: R, item: &Obj<R::To>) -> Result<()> {
        let side = rel.__side();
        let item = item.erased();
        let session = self.change_session(Some(&item))?;
        if self.inner.status.get() == Status::Persistent {
            self.ensure_loaded(side)?;
        }
        SessionInner::append(session.as_deref(), &self.erased(), side, &item)
    }

    /// Replace the whole collection with `items`, in that order
    /// (SQLAlchemy's `post.comments = [...]`): what is no longer in it is
    /// removed as by [`remove`](Self::remove) (its foreign key cleared, or
    /// deleted with a `delete-orphan` cascade), what is new is appended as
    /// by [`append`](Self::append). Items given twice count once.
    ///
    /// # Errors
    ///
    /// [`Error::Detached`], [`Error::WrongSession`] (items of another
    /// session), checked before any change; loading errors.
    ///
    /// # Examples
    ///
    /// ```
    /// use orm::prelude::*;
    ///
    /// #[derive(Model, Debug, Default)]
    /// #[orm(has_many(comments = Comment, backref = "post", cascade = "all, delete-orphan"))]
    /// struct Post { #[orm(primary_key)] id: i64 }
    ///
    /// #[derive(Model, Debug, Default)]
    /// struct Comment {
    ///     #[orm(primary_key)] id: i64,
    ///     body: String,
    ///     #[orm(foreign_key = Post::id)] post_id: i64,
    /// }
    /// fn comment(body: &str) -> Obj<Comment> {
    ///     Obj::new(Comment { body: body.into(), ..Default::default() })
    /// }
    ///
    /// # fn main() -> orm::Result<()> {
    /// let db = Database::builder().model::<Post>().open("sqlite://")?;
    /// db.create_all()?;
    /// let s = db.session();
    /// let post = s.add(Post::default())?;
    /// post.assign(Post::comments, [comment("first"), comment("second")])?;
    /// s.commit()?;
    /// post.assign(Post::comments, [comment("only")])?; // the other two are orphans
    /// s.commit()?;
    /// assert_eq!(s.query::<Comment>().count()?, 1);
    /// # Ok(()) }
    /// ```
    pub fn assign<R, I>(&self, rel: R, items: I) -> Result<()>
    where
        R: CollectionRelation<From = M>,
        I: IntoIterator,
        I::Item: Borrow<Obj<R::To>>,
    {
        let side = rel.__side();
        let mut new: Vec<Rc<dyn ErasedObj>> = Vec::new();
        let mut seen = rustc_hash::FxHashSet::default();
        for item in items {
            let item = item.borrow().erased();
            if seen.insert(Rc::as_ptr(&item) as *const ()) {
                new.push(item);
            }
        }
        let session = self.collection_session(&new)?;
        let session = session.as_deref();
        if self.inner.status.get() == Status::Persistent {
            self.ensure_loaded(side)?;
        }
        let me = self.erased();
        let current = loaded_items(&me, side).unwrap_or_default();
        let kept: rustc_hash::FxHashSet<*const ()> =
            current.iter().map(|o| Rc::as_ptr(o) as *const ()).collect();
        for old in &current {
            if !seen.contains(&(Rc::as_ptr(old) as *const ())) {
                SessionInner::remove_from(session, &me, side, old)?;
            }
        }
        for item in &new {
            if !kept.contains(&(Rc::as_ptr(item) as *const ())) {
                SessionInner::append(session, &me, side, item)?;
            }
        }
        reorder(&me, side, &new);
        Ok(())
    }

    /// [`set_related`](Self::set_related) to `item`, returning the object:
    /// for relationships given when an object is made, as in SQLAlchemy's
    /// `Post(author=bob, tags=[rust])`.
    ///
    /// # Errors
    ///
    /// As [`set_related`](Self::set_related).
    ///
    /// # Examples
    ///
    /// ```
    /// use orm::prelude::*;
    ///
    /// #[derive(Model, Debug, Default)]
    /// #[orm(has_many(posts = Post, backref = "author"))]
    /// struct User { #[orm(primary_key)] id: i64, name: String }
    ///
    /// #[derive(Model, Debug, Default)]
    /// #[orm(many_to_many(tags = Tag, secondary = PostTag, backref = "posts"))]
    /// struct Post {
    ///     #[orm(primary_key)] id: i64,
    ///     #[orm(foreign_key = User::id)] author_id: i64,
    /// }
    ///
    /// #[derive(Model, Debug, Default)]
    /// struct Tag { #[orm(primary_key)] id: i64, name: String }
    ///
    /// #[derive(Model, Debug, Default)]
    /// struct PostTag {
    ///     #[orm(primary_key, foreign_key = Post::id)] post_id: i64,
    ///     #[orm(primary_key, foreign_key = Tag::id)] tag_id: i64,
    /// }
    ///
    /// # fn main() -> orm::Result<()> {
    /// let db = Database::builder().model::<Post>().open("sqlite://")?;
    /// db.create_all()?;
    /// let s = db.session();
    /// let bob = s.add(User { name: "bob".into(), ..Default::default() })?;
    /// let rust = Obj::new(Tag { name: "rust".into(), ..Default::default() });
    /// let post = Obj::new(Post::default())
    ///     .with(Post::author, &bob)?
    ///     .with_all(Post::tags, [&rust])?;
    /// s.commit()?; // the post and the tag joined the session through bob
    /// assert_eq!(post.get(Post::author_id)?, bob.get(User::id)?);
    /// assert_eq!(post.related(Post::tags)?.len(), 1);
    /// # Ok(()) }
    /// ```
    pub fn with<R: ScalarRelation<From = M>>(self, rel: R, item: &Obj<R::To>) -> Result<Self> {
        self.set_related(rel, Some(item))?;
        Ok(self)
    }

    /// [`assign`](Self::assign) `items` to a collection, returning the
    /// object (see [`with`](Self::with)).
    ///
    /// # Errors
    ///
    /// As [`assign`](Self::assign).
    ///
    /// # Examples
    ///
    /// ```
    /// use orm::prelude::*;
    ///
    /// #[derive(Model, Debug, Default)]
    /// #[orm(has_many(pets = Pet, backref = "owner"))]
    /// struct Person { #[orm(primary_key)] id: i64 }
    ///
    /// #[derive(Model, Debug, Default)]
    /// struct Pet { #[orm(primary_key)] id: i64, #[orm(foreign_key = Person::id)] person_id: i64 }
    ///
    /// let (rex, tom) = (Obj::new(Pet::default()), Obj::new(Pet::default()));
    /// let ann = Obj::new(Person::default()).with_all(Person::pets, [&rex, &tom])?;
    /// assert!(rex.related(Pet::owner)?.unwrap() == ann);
    /// # Ok::<(), orm::Error>(())
    /// ```
    pub fn with_all<R, I>(self, rel: R, items: I) -> Result<Self>
    where
        R: CollectionRelation<From = M>,
        I: IntoIterator,
        I::Item: Borrow<Obj<R::To>>,
    {
        self.assign(rel, items)?;
        Ok(self)
    }

    /// The session a collection change of this object and `items` is
    /// recorded in: every one of them in the same session, or none.
    fn collection_session(&self, items: &[Rc<dyn ErasedObj>]) -> Result<Option<Rc<SessionInner>>> {
        let mut found = self.change_session(None)?;
        for item in items {
            let theirs = self.change_session(Some(item))?;
            match (&found, theirs) {
                (Some(a), Some(b)) if !Rc::ptr_eq(a, &b) => {
                    return Err(Error::WrongSession {
                        model: item.table().model,
                    });
                }
                (None, Some(b)) => found = Some(b),
                _ => {}
            }
        }
        Ok(found)
    }

    /// Remove `item` from a collection. Its reference to this object is
    /// cleared (its foreign key becomes NULL at flush), or with a
    /// `delete-orphan` cascade the item is deleted. For many-to-many, the
    /// association row is deleted.
    ///
    /// # Errors
    ///
    /// [`Error::WrongSession`]; loading errors.
    ///
    /// # Examples
    ///
    /// ```
    /// use orm::prelude::*;
    ///
    /// #[derive(Model, Debug, Default)]
    /// #[orm(has_many(pets = Pet, backref = "owner", cascade = "all, delete-orphan"))]
    /// struct Person { #[orm(primary_key)] id: i64 }
    ///
    /// #[derive(Model, Debug, Default)]
    /// struct Pet { #[orm(primary_key)] id: i64, #[orm(foreign_key = Person::id)] person_id: i64 }
    ///
    /// # fn main() -> orm::Result<()> {
    /// let db = Database::builder().model::<Person>().open("sqlite://")?;
    /// db.create_all()?;
    /// let s = db.session();
    /// let ann = s.add(Person::default())?;
    /// let rex = Obj::new(Pet::default());
    /// ann.append(Person::pets, &rex)?;
    /// s.commit()?;
    /// ann.remove(Person::pets, &rex)?;
    /// s.commit()?; // the orphan is deleted
    /// assert_eq!(s.query::<Pet>().count()?, 0);
    /// # Ok(()) }
    /// ```
    pub fn remove<R: CollectionRelation<From = M>>(&self, rel: R, item: &Obj<R::To>) -> Result<()> {
        let side = rel.__side();
        let item = item.erased();
        let session = self.change_session(Some(&item))?;
        if self.inner.status.get() == Status::Persistent {
            self.ensure_loaded(side)?;
        }
        SessionInner::remove_from(session.as_deref(), &self.erased(), side, &item)
    }

    /// Set a reference: a child's parent (`pet.set_related(Pet::owner,
    /// Some(&ann))`) or a one-to-one child. The other end's loaded
    /// collection follows, and the foreign key is written at flush. `None`
    /// clears it (NULL at flush, or a delete with `delete-orphan`).
    ///
    /// # Errors
    ///
    /// [`Error::WrongSession`]; loading errors.
    ///
    /// # Examples
    ///
    /// ```
    /// use orm::prelude::*;
    ///
    /// #[derive(Model, Debug, Default)]
    /// #[orm(has_many(pets = Pet, backref = "owner"))]
    /// struct Person { #[orm(primary_key)] id: i64 }
    ///
    /// #[derive(Model, Debug, Default)]
    /// struct Pet { #[orm(primary_key)] id: i64, #[orm(foreign_key = Person::id)] person_id: Option<i64> }
    ///
    /// # fn main() -> orm::Result<()> {
    /// let db = Database::builder().model::<Person>().open("sqlite://")?;
    /// db.create_all()?;
    /// let s = db.session();
    /// let ann = s.add(Person::default())?;
    /// let rex = s.add(Pet::default())?;
    /// assert!(ann.related(Person::pets)?.is_empty());
    /// rex.set_related(Pet::owner, Some(&ann))?;
    /// assert!(ann.related(Person::pets)?[0] == rex); // the collection followed
    /// s.commit()?;
    /// assert_eq!(rex.read()?.person_id, Some(1));
    /// rex.set_related(Pet::owner, None)?;
    /// s.commit()?;
    /// assert_eq!(rex.read()?.person_id, None);
    /// # Ok(()) }
    /// ```
    pub fn set_related<R: ScalarRelation<From = M>>(
        &self,
        rel: R,
        item: Option<&Obj<R::To>>,
    ) -> Result<()> {
        let side = rel.__side();
        let item = item.map(Obj::erased);
        let session = self.change_session(item.as_ref())?;
        let session = session.as_deref();
        let me = self.erased();
        match side.role() {
            Role::Parent => {
                // Change the relationship first, then cascade: only what is
                // related after the change joins the session.
                SessionInner::set_parent(session, &me, side, item.as_ref())?;
                if let Some(s) = session {
                    s.cascade_into(&me)?;
                    if let Some(i) = &item {
                        s.cascade_into(i)?;
                    }
                }
                Ok(())
            }
            _ => {
                if self.inner.status.get() == Status::Persistent {
                    self.ensure_loaded(side)?;
                }
                let current = loaded_items(&me, side).unwrap_or_default();
                for old in current {
                    if item.as_ref().is_none_or(|i| !Rc::ptr_eq(i, &old)) {
                        SessionInner::remove_from(session, &me, side, &old)?;
                    }
                }
                match &item {
                    Some(i) => SessionInner::append(session, &me, side, i),
                    None => Ok(()),
                }
            }
        }
    }
}
