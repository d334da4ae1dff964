//! Images: list, inspect, build from a Dockerfile, delete (seed `docker_image_*`).

use std::path::Path;

use bollard::query_parameters::{BuildImageOptions, ListImagesOptions, RemoveImageOptions};
use daas_common::protocols::ImageInfo;
use futures::StreamExt;

use crate::engine::{Engine, EngineError};

/// Every image the engine holds.
pub async fn list(engine: &Engine) -> Result<Vec<ImageInfo>, EngineError> {
    let images = engine.call("image list", "the images", engine.docker()?.list_images(Some(ListImagesOptions::default()))).await?;
    Ok(images
        .into_iter()
        .map(|i| ImageInfo {
            id: i.id,
            tags: i.repo_tags.into_iter().filter(|t| t != "<none>:<none>").collect(),
            size: i.size,
            created: i.created,
        })
        .collect())
}

/// One image by name or id; 404 naming it when the engine has none.
pub async fn inspect(engine: &Engine, name: &str) -> Result<ImageInfo, EngineError> {
    if name.trim().is_empty() {
        return Err(EngineError::BadRequest("an image name is needed (name:tag or id)".into()));
    }
    let what = format!("image `{name}`");
    let i = engine.call("image inspect", &what, engine.docker()?.inspect_image(name)).await?;
    Ok(ImageInfo {
        id: i.id.unwrap_or_default(),
        tags: i.repo_tags.unwrap_or_default(),
        size: i.size.unwrap_or_default(),
        // RFC 3339 text: seconds since the epoch, like the image list.
        created: i.created.and_then(|d| chrono::DateTime::parse_from_rfc3339(&d).ok()).map(|d| d.timestamp()).unwrap_or_default(),
    })
}

/// Build an image from a Dockerfile on this server: its directory is the context.
/// Answers the new image's id and the build's output.
pub async fn build(engine: &Engine, dockerfile: &str, tag: &str) -> Result<(String, String), EngineError> {
    let path = Path::new(dockerfile);
    if !path.is_file() {
        return Err(EngineError::NotFound(format!("Dockerfile `{dockerfile}` does not exist on this server")));
    }
    if tag.trim().is_empty() {
        return Err(EngineError::BadRequest("a tag is needed for the built image".into()));
    }
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new(".")).to_path_buf();
    let file_name = path.file_name().map(|f| f.to_string_lossy().into_owned()).unwrap_or_else(|| "Dockerfile".into());
    // The context is read from disk: off the async workers.
    let context = tokio::task::spawn_blocking(move || -> std::io::Result<Vec<u8>> {
        let mut tar = tar::Builder::new(Vec::new());
        tar.follow_symlinks(false);
        tar.append_dir_all(".", &dir)?;
        tar.into_inner()
    })
    .await
    .map_err(|e| EngineError::Failed(format!("packing the build context failed: {e}")))?
    .map_err(|e| EngineError::BadRequest(format!("the build context of `{dockerfile}` could not be read: {e}")))?;
    let options = BuildImageOptions { dockerfile: file_name, t: Some(tag.to_string()), rm: true, forcerm: true, ..Default::default() };
    let what = format!("the build of `{tag}`");
    let docker = engine.docker()?;
    let build = async {
        let mut stream = docker.build_image(options, None, Some(bollard::body_full(context.into())));
        let mut log = String::new();
        while let Some(item) = stream.next().await {
            let item = item?;
            if let Some(s) = item.stream {
                log.push_str(&s);
            }
            if let Some(e) = item.error_detail.and_then(|d| d.message) {
                return Ok(Err(format!("{e}\n{log}")));
            }
        }
        Ok(Ok(log))
    };
    // A build runs commands: ten times the timeout of one call.
    let log = engine
        .call_for(engine.timeout() * 10, "image build", &what, build)
        .await?
        .map_err(|e| EngineError::BadRequest(format!("building `{tag}` from `{dockerfile}` failed: {e}")))?;
    let image = inspect(engine, tag).await?;
    Ok((image.id, log))
}

/// Delete an image, forced as the seed does (its stopped containers go with it).
pub async fn delete(engine: &Engine, name: &str) -> Result<(), EngineError> {
    let what = format!("image `{name}`");
    let options = RemoveImageOptions { force: true, ..Default::default() };
    engine.call("image delete", &what, engine.docker()?.remove_image(name, Some(options), None)).await.map(|_| ())
}
