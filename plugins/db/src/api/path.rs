//! The path parameter of the db routes. poem-openapi's own `Path` reports a value it
//! cannot parse under the name it routes by (`param0`); this one names the parameter
//! (every db route has one, `id`) in the JSON 400 the routes document.
//!
//! poem-openapi recognises a path parameter by its type's name, so this type is called
//! `Path` too.

use daas_plugin_api::{
    poem::{IntoResponse, Request, RequestBody},
    poem_openapi::{
        registry::{MetaParamIn, MetaSchemaRef, Registry},
        types::ParseFromParameter,
        ApiExtractor, ApiExtractorType, ExtractParamOptions,
    },
    sdk::Failure,
};

/// The `id` in a db route's path.
pub struct Path<T>(pub T);

impl<'a, T: ParseFromParameter> ApiExtractor<'a> for Path<T> {
    const TYPES: &'static [ApiExtractorType] = &[ApiExtractorType::Parameter];
    const PARAM_IS_REQUIRED: bool = T::IS_REQUIRED;

    type ParamType = T;
    type ParamRawType = T::RawValueType;

    fn register(registry: &mut Registry) {
        T::register(registry);
    }

    fn param_in() -> Option<MetaParamIn> {
        Some(MetaParamIn::Path)
    }

    fn param_schema_ref() -> Option<MetaSchemaRef> {
        Some(T::schema_ref())
    }

    fn param_raw_type(&self) -> Option<&Self::ParamRawType> {
        self.0.as_raw_value()
    }

    async fn from_request(
        request: &'a Request,
        _body: &mut RequestBody,
        param_opts: ExtractParamOptions<Self::ParamType>,
    ) -> daas_plugin_api::poem::Result<Self> {
        let value = request.raw_path_param(param_opts.name);
        T::parse_from_parameters(value).map(Path).map_err(|e| {
            let shown = value.unwrap_or_default();
            let failure = Failure::bad(format!("`id` in the path: `{shown}` is not valid: {}", e.into_message()));
            daas_plugin_api::poem::Error::from_response(failure.into_response())
        })
    }
}
