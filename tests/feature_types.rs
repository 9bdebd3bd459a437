//! The optional column types (features `chrono`, `time`, `uuid`, `json`):
//! declared types, the text SQLAlchemy would store, round trips through a
//! new session, comparisons in filters, and typed errors for stored text
//! that does not parse. CI runs it with
//! `cargo test --all-features --test feature_types`; without the features
//! this file compiles to nothing.
#![cfg(all(
    feature = "chrono",
    feature = "time",
    feature = "uuid",
    feature = "json"
))]

mod common;

use orm::prelude::*;
use orm::types::Value;
use orm::types::chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use orm::types::serde_json::{self, json};
use orm::types::time;
use orm::types::uuid::Uuid;

#[derive(Model, Debug, Clone, PartialEq)]
struct Event {
    #[orm(primary_key)]
    id: i64,
    day: NaiveDate,
    at: NaiveDateTime,
    at_utc: DateTime<Utc>,
    t_day: time::Date,
    t_at: time::PrimitiveDateTime,
    t_at_utc: time::OffsetDateTime,
    token: Uuid,
    data: serde_json::Value,
    ended: Option<NaiveDate>,
}

fn leap_day_event() -> Event {
    let at = NaiveDate::from_ymd_opt(2024, 2, 29)
        .unwrap()
        .and_hms_micro_opt(13, 45, 30, 123_456)
        .unwrap();
    let t_day = time::Date::from_calendar_date(2024, time::Month::February, 29).unwrap();
    let t_at = t_day.with_hms_micro(13, 45, 30, 123_456).unwrap();
    Event {
        id: 0,
        day: at.date(),
        at,
        at_utc: at.and_utc(),
        t_day,
        t_at,
        // Stored in UTC: 15:45:30 at +02:00 is 13:45:30 UTC.
        t_at_utc: t_at
            .assume_offset(time::UtcOffset::from_hms(2, 0, 0).unwrap())
            .replace_hour(15)
            .unwrap(),
        token: Uuid::from_u128(0x0123_4567_89ab_cdef_0123_4567_89ab_cdef),
        data: json!({"tags": ["a", "b"], "n": 1.5, "quote": "'; DROP TABLE event; --"}),
        ended: None,
    }
}

#[test]
fn optional_types_declare_sqlalchemy_types_and_store_its_text() {
    let (_dir, url) = common::temp_db("events.db");
    let url = if common::is_postgres() {
        common::fresh_url()
    } else {
        url
    };
    let db = Database::builder().model::<Event>().open(&url).unwrap();
    db.create_all().unwrap();

    // SQLite's file is read directly, as another program would; the server
    // through a new session.
    let raw = (!common::is_postgres())
        .then(|| rusqlite::Connection::open(common::path_of(&url)).unwrap());
    let declared: Vec<(String, String)> = match &raw {
        Some(raw) => raw
            .prepare("SELECT name, type FROM pragma_table_info('event') ORDER BY cid")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap(),
        None => db
            .session()
            .raw_tuples(
                "SELECT attname::text, format_type(atttypid, atttypmod) FROM pg_attribute \
                 WHERE attrelid = 'event'::regclass AND attnum > 0 AND NOT attisdropped \
                 ORDER BY attnum",
                &[],
            )
            .unwrap(),
    };
    let declared: Vec<(&str, &str)> = declared
        .iter()
        .map(|(n, t)| (n.as_str(), t.as_str()))
        .collect();
    if common::is_postgres() {
        // PostgreSQL's own types, as SQLAlchemy declares them there (the
        // key is a SERIAL: an integer with a sequence).
        assert_eq!(
            declared,
            [
                ("id", "integer"),
                ("day", "date"),
                ("at", "timestamp without time zone"),
                ("at_utc", "timestamp with time zone"),
                ("t_day", "date"),
                ("t_at", "timestamp without time zone"),
                ("t_at_utc", "timestamp with time zone"),
                ("token", "uuid"),
                ("data", "jsonb"),
                ("ended", "date"),
            ]
        );
    } else {
        assert_eq!(
            declared,
            [
                ("id", "INTEGER"),
                ("day", "DATE"),
                ("at", "DATETIME"),
                ("at_utc", "DATETIME"),
                ("t_day", "DATE"),
                ("t_at", "DATETIME"),
                ("t_at_utc", "DATETIME"),
                ("token", "CHAR(32)"),
                ("data", "JSON"),
                ("ended", "DATE"),
            ]
        );
    }

    let s = db.session();
    let e = s.add(leap_day_event()).unwrap();
    s.commit().unwrap();
    let id = e.read().unwrap().id;
    assert_eq!(id, 1);

    type Stored = (
        String,
        String,
        String,
        String,
        String,
        String,
        String,
        String,
    );
    let stored: Stored = match &raw {
        Some(raw) => raw
            .query_row(
                "SELECT day, at, at_utc, t_day, t_at, t_at_utc, token, data FROM event WHERE id = ?1",
                [id],
                |r| {
                    Ok((
                        r.get(0)?,
                        r.get(1)?,
                        r.get(2)?,
                        r.get(3)?,
                        r.get(4)?,
                        r.get(5)?,
                        r.get(6)?,
                        r.get(7)?,
                    ))
                },
            )
            .unwrap(),
        // The server's values, read back as the text SQLite would hold.
        None => db
            .session()
            .raw_tuples::<Stored>(
                "SELECT day, at, at_utc, t_day, t_at, t_at_utc, token, data FROM event WHERE id = $1",
                &orm::params![id],
            )
            .unwrap()
            .remove(0),
    };
    assert_eq!(stored.0, "2024-02-29");
    assert_eq!(stored.1, "2024-02-29 13:45:30.123456");
    assert_eq!(stored.2, "2024-02-29 13:45:30.123456");
    assert_eq!(stored.3, "2024-02-29");
    assert_eq!(stored.4, "2024-02-29 13:45:30.123456");
    assert_eq!(stored.5, "2024-02-29 13:45:30.123456");
    assert_eq!(stored.6, "0123456789abcdef0123456789abcdef");
    let data: serde_json::Value = serde_json::from_str(&stored.7).unwrap();
    assert_eq!(data, leap_day_event().data);
    if common::is_postgres() {
        // As the server itself writes them: the instants in UTC, the UUID.
        let text: Vec<(String, String, String)> = db
            .session()
            .raw_tuples(
                "SELECT at_utc::text, t_at_utc::text, token::text FROM event WHERE id = $1",
                &orm::params![id],
            )
            .unwrap();
        assert_eq!(
            text,
            [(
                "2024-02-29 13:45:30.123456+00".to_string(),
                "2024-02-29 13:45:30.123456+00".to_string(),
                "01234567-89ab-cdef-0123-456789abcdef".to_string()
            )]
        );
    }
}

#[test]
fn optional_types_round_trip_and_compare_in_filters() {
    let db = common::fresh::<Event>();
    let s = db.session();
    let first = leap_day_event();
    let mut later = leap_day_event();
    later.day = NaiveDate::from_ymd_opt(2025, 1, 1).unwrap();
    later.ended = Some(NaiveDate::from_ymd_opt(2025, 1, 2).unwrap());
    later.token = Uuid::nil();
    later.data = json!(null);
    s.add_all([first.clone(), later.clone()]).unwrap();
    s.commit().unwrap();

    // A new session reads the rows back from the database, not from memory.
    let s = db.session();
    let loaded: Vec<Event> = s
        .query::<Event>()
        .order_by(Event::id.asc())
        .all_detached()
        .unwrap();
    assert_eq!(loaded.len(), 2);
    assert_eq!(loaded[0], Event { id: 1, ..first });
    assert_eq!(
        loaded[1],
        Event {
            id: 2,
            ..later.clone()
        }
    );

    let cutoff = NaiveDate::from_ymd_opt(2024, 12, 31).unwrap();
    let after: Vec<i64> = s
        .query::<Event>()
        .filter(Event::day.gt(cutoff))
        .all()
        .unwrap()
        .iter()
        .map(|e| e.read().unwrap().id)
        .collect();
    assert_eq!(after, [2]);
    let by_token = s
        .query::<Event>()
        .filter(Event::token.eq(Uuid::nil()))
        .one()
        .unwrap();
    assert_eq!(by_token.read().unwrap().id, 2);
    let open = s
        .query::<Event>()
        .filter(Event::ended.is_null())
        .count()
        .unwrap();
    assert_eq!(open, 1);

    // A changed date is written as an UPDATE of that column and read back.
    let e = s.get::<Event>(1).unwrap().unwrap();
    e.write().unwrap().t_day = time::Date::from_calendar_date(2030, time::Month::June, 1).unwrap();
    s.commit().unwrap();
    let s = db.session();
    let e = s.get::<Event>(1).unwrap().unwrap();
    assert_eq!(e.read().unwrap().t_day.to_string(), "2030-06-01");
}

#[test]
fn stored_text_that_does_not_parse_is_a_conversion_error_naming_the_column() {
    let db = common::fresh::<Event>();
    let s = db.session();
    let e = s.add(leap_day_event()).unwrap();
    s.commit().unwrap();
    // Its key (a new row gets a new one from PostgreSQL's sequence).
    let mut id = e.read().unwrap().id;
    for (column, bad) in [
        ("day", "29/02/2024"),
        ("at", "yesterday"),
        ("t_at", "2024-02-30 00:00:00"),
        ("token", "not-a-uuid"),
        ("data", "{unclosed"),
    ] {
        let s = db.session();
        if common::is_postgres() {
            // The server parses text into a date, a UUID, JSON... and
            // refuses what does not parse: another program can store such
            // text only after changing the column to a text type.
            let alter = match column {
                "day" => "ALTER TABLE event ALTER COLUMN day TYPE TEXT",
                "at" => "ALTER TABLE event ALTER COLUMN at TYPE TEXT",
                "t_at" => "ALTER TABLE event ALTER COLUMN t_at TYPE TEXT",
                "token" => "ALTER TABLE event ALTER COLUMN token TYPE TEXT",
                _ => "ALTER TABLE event ALTER COLUMN data TYPE TEXT",
            };
            s.execute(alter, &[]).unwrap();
        }
        let sql = match (column, common::is_postgres()) {
            ("day", false) => "UPDATE event SET day = ?1",
            ("at", false) => "UPDATE event SET at = ?1",
            ("t_at", false) => "UPDATE event SET t_at = ?1",
            ("token", false) => "UPDATE event SET token = ?1",
            (_, false) => "UPDATE event SET data = ?1",
            ("day", true) => "UPDATE event SET day = $1",
            ("at", true) => "UPDATE event SET at = $1",
            ("t_at", true) => "UPDATE event SET t_at = $1",
            ("token", true) => "UPDATE event SET token = $1",
            (_, true) => "UPDATE event SET data = $1",
        };
        s.execute(sql, &[Value::Text(bad.into())]).unwrap();
        s.commit().unwrap();
        let s = db.session();
        match s.get::<Event>(id) {
            Err(orm::Error::Conversion {
                table, column: c, ..
            }) => {
                assert_eq!((table.as_str(), c.as_str()), ("event", column));
            }
            other => panic!("{column} = {bad:?} gave {other:?}"),
        }
        // Put the good row back for the next column.
        let s = db.session();
        s.execute("DELETE FROM event", &[]).unwrap();
        let e = s.add(leap_day_event()).unwrap();
        s.commit().unwrap();
        id = e.read().unwrap().id;
    }
}
