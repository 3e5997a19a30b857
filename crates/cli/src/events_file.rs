//! Reading events from JSON Lines or CSV.
//!
//! JSON Lines use the proto3 JSON form of `rapport.v1.Event`, field names as
//! in the .proto file:
//! `{"id":"r1","account_id":"acme","time":"2026-11-01T10:00:00Z",
//!   "labels":{"segment":"smb"},"survey_response":{"kind":"SURVEY_KIND_NPS","score":9}}`.
//!
//! CSV carries survey responses, one per row, with the header
//! `id,account_id,time,kind,score,scale_min,scale_max,comment`; any other
//! column is a label. `kind` is csat, ces or nps; an empty score is a
//! skipped answer.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;

use anyhow::{Context, bail};
use rapport::proto;

/// Input formats of `rapport ingest`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum EventFormat {
    /// One proto3-JSON event per line.
    Jsonl,
    /// Survey responses, one per row.
    Csv,
}

impl EventFormat {
    /// CSV for `.csv` files, JSON Lines otherwise.
    pub fn guess(path: Option<&Path>) -> Self {
        match path.and_then(|p| p.extension()).and_then(|e| e.to_str()) {
            Some(ext) if ext.eq_ignore_ascii_case("csv") => EventFormat::Csv,
            _ => EventFormat::Jsonl,
        }
    }
}

/// Events read from a file, with the line each came from (for messages).
#[derive(Debug, Default)]
pub struct EventsFile {
    /// The events, in file order.
    pub events: Vec<proto::Event>,
    /// The 1-based line number of each event.
    pub lines: Vec<usize>,
}

/// Reads all events from `path` (stdin when `None`). A malformed line stops
/// the read with an error naming the line: nothing is sent half-parsed.
pub fn read_events(path: Option<&Path>, format: EventFormat) -> anyhow::Result<EventsFile> {
    let reader: Box<dyn Read> = match path {
        Some(path) => {
            Box::new(std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?)
        }
        None => Box::new(std::io::stdin()),
    };
    match format {
        EventFormat::Jsonl => read_jsonl(BufReader::new(reader)),
        EventFormat::Csv => read_csv(reader),
    }
}

fn read_jsonl(reader: impl BufRead) -> anyhow::Result<EventsFile> {
    let mut file = EventsFile::default();
    for (index, line) in reader.lines().enumerate() {
        let line = line.with_context(|| format!("reading line {}", index + 1))?;
        if line.trim().is_empty() {
            continue;
        }
        let event: proto::Event = serde_json::from_str(&line)
            .with_context(|| format!("line {}: not a rapport.v1.Event", index + 1))?;
        file.events.push(event);
        file.lines.push(index + 1);
    }
    Ok(file)
}

fn read_csv(reader: impl Read) -> anyhow::Result<EventsFile> {
    let mut csv = csv::ReaderBuilder::new().trim(csv::Trim::All).from_reader(reader);
    let headers = csv.headers().context("reading the CSV header")?.clone();
    let column = |name: &str| headers.iter().position(|h| h == name);
    let (Some(id), Some(time), Some(kind)) = (column("id"), column("time"), column("kind")) else {
        bail!("the CSV header needs at least id, time and kind columns");
    };
    let known = ["id", "account_id", "time", "kind", "score", "scale_min", "scale_max", "comment"];
    let mut file = EventsFile::default();
    for (index, record) in csv.records().enumerate() {
        let line = index + 2;
        let record = record.with_context(|| format!("line {line}: malformed CSV"))?;
        let field = |name: &str| column(name).and_then(|i| record.get(i)).unwrap_or("");
        let time = super::parse_time(record.get(time).unwrap_or(""))
            .with_context(|| format!("line {line}: time"))?;
        let kind = match record.get(kind).unwrap_or("").to_ascii_lowercase().as_str() {
            "csat" => proto::SurveyKind::Csat,
            "ces" => proto::SurveyKind::Ces,
            "nps" => proto::SurveyKind::Nps,
            other => bail!("line {line}: kind must be csat, ces or nps, got {other:?}"),
        };
        let number = |name: &str| -> anyhow::Result<Option<i32>> {
            let text = field(name);
            if text.is_empty() {
                return Ok(None);
            }
            Ok(Some(text.parse().with_context(|| format!("line {line}: {name} {text:?} is not an integer"))?))
        };
        let scale = match (number("scale_min")?, number("scale_max")?) {
            (Some(min), Some(max)) => Some(proto::Scale { min, max }),
            (None, None) => None,
            _ => bail!("line {line}: give both scale_min and scale_max, or neither"),
        };
        let labels: HashMap<String, String> = headers
            .iter()
            .zip(record.iter())
            .filter(|(h, v)| !known.contains(h) && !v.is_empty())
            .map(|(h, v)| (h.to_owned(), v.to_owned()))
            .collect();
        file.events.push(proto::Event {
            id: record.get(id).unwrap_or("").to_owned(),
            account_id: field("account_id").to_owned(),
            time: Some(time),
            labels,
            payload: Some(proto::event::Payload::SurveyResponse(proto::SurveyResponse {
                kind: kind.into(),
                score: number("score")?,
                scale,
                comment: field("comment").to_owned(),
            })),
        });
        file.lines.push(line);
    }
    Ok(file)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_rows_become_survey_events_with_extra_columns_as_labels() -> anyhow::Result<()> {
        let text = "id,account_id,time,kind,score,scale_min,scale_max,comment,segment\n\
                    r1,acme,2026-11-01T10:00:00Z,ces,6,1,7,easy enough,smb\n\
                    r2,,2026-11-01T11:00:00Z,NPS,,,,,\n";
        let file = read_csv(text.as_bytes())?;
        assert_eq!(file.lines, vec![2, 3]);
        let first = &file.events[0];
        assert_eq!(first.labels.get("segment").map(String::as_str), Some("smb"));
        let Some(proto::event::Payload::SurveyResponse(survey)) = &first.payload else {
            anyhow::bail!("expected a survey response");
        };
        assert_eq!(survey.score, Some(6));
        assert_eq!(survey.scale, Some(proto::Scale { min: 1, max: 7 }));
        let Some(proto::event::Payload::SurveyResponse(skipped)) = &file.events[1].payload else {
            anyhow::bail!("expected a survey response");
        };
        assert_eq!((skipped.kind, skipped.score), (proto::SurveyKind::Nps as i32, None));
        assert!(file.events[1].labels.is_empty());
        Ok(())
    }

    #[test]
    fn jsonl_uses_the_proto_json_form() -> anyhow::Result<()> {
        let line = r#"{"id":"r1","time":"2026-11-01T10:00:00Z","labels":{"region":"eu"},"survey_response":{"kind":"SURVEY_KIND_NPS","score":0}}"#;
        let file = read_jsonl(format!("{line}\n\n").as_bytes())?;
        assert_eq!(file.events.len(), 1);
        let Some(proto::event::Payload::SurveyResponse(survey)) = &file.events[0].payload else {
            anyhow::bail!("expected a survey response");
        };
        assert_eq!(survey.score, Some(0));
        assert_eq!(file.events[0].time.map(|t| t.seconds), Some(1_793_527_200));
        Ok(())
    }

    #[test]
    fn malformed_line_is_reported_with_its_number() {
        let error = read_jsonl("{\"id\":\"a\"}\nnot json\n".as_bytes()).err().map(|e| format!("{e:#}"));
        assert!(error.is_some_and(|e| e.starts_with("line 2")));
    }
}
