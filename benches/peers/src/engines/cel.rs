//! CEL through the `cel` crate, with its strings extension for `replace`,
//! `split` and `lowerAscii`.

use std::collections::HashMap;
use std::sync::Arc;

use cel::{Context, Env, Program, Value};
use serde_json::Value as Json;

use crate::run::Engine;
use crate::workload::Workload;

pub fn engine(workload: &Workload) -> Result<Engine<Program, Value>, String> {
    let mut env = Env::stdlib();
    env.add_extension(cel::extensions::strings)
        .map_err(|error| format!("cel strings extension: {error:?}"))?;
    let env = Arc::new(env);

    let mut context = Context::with_env(Arc::clone(&env));
    let roots = workload.context.as_object().ok_or("the context is not an object")?;
    for (name, value) in roots {
        context.add_variable_from_value(name.clone(), convert(value));
    }
    // The context borrows nothing, so leaking it once gives the closures a
    // `'static` reference without copying it per evaluation.
    let context: &'static Context<'static, 'static> = Box::leak(Box::new(context));

    Ok(Engine {
        name: "cel",
        compile: Box::new(move |_, source| env.compile(source).map_err(|error| error.to_string())),
        evaluate: Box::new(move |program| program.execute(context).map_err(|error| error.to_string())),
        text: text,
    })
}

/// Converts JSON to CEL values by hand, because `cel::to_value` turns
/// non-negative JSON integers into `uint`, which CEL will not mix with the
/// `int` literals of the workload (`4127u % 10` is a type error).
fn convert(value: &Json) -> Value {
    match value {
        Json::Null => Value::Null,
        Json::Bool(flag) => Value::Bool(*flag),
        Json::Number(number) => match number.as_i64() {
            Some(integer) => Value::Int(integer),
            None => Value::Float(number.as_f64().unwrap_or(f64::NAN)),
        },
        Json::String(text) => Value::String(Arc::new(text.clone())),
        Json::Array(items) => Value::List(Arc::new(items.iter().map(convert).collect())),
        Json::Object(fields) => {
            let entries: HashMap<String, Value> =
                fields.iter().map(|(name, child)| (name.clone(), convert(child))).collect();
            Value::from(entries)
        }
    }
}

fn text(value: &Value) -> String {
    match value {
        Value::String(text) => text.to_string(),
        Value::Bool(flag) => flag.to_string(),
        Value::Int(number) => number.to_string(),
        Value::UInt(number) => number.to_string(),
        other => format!("{other:?}"),
    }
}
