//! The control plane: CreateStream, DescribeStream, ListStreams, UpdateStream, DeleteStream
//! and GetDataEndpoint.

use super::authz::{self, Action};
use super::errors::{KvsError, KvsErrorKind};
use super::stream::{
    self, CreateStreamInput, ListStreamsInput, ListStreamsOutput, StreamInfo, StreamRef,
    UpdateStreamInput,
};
use super::{new_version, Kvs};
use crate::kms::Credential;

impl Kvs {
    /// CreateStream: returns the new stream's ARN. Makes no KMS call.
    ///
    /// # Errors
    /// `InvalidArgumentException` (name, device name, media type, key id),
    /// `NotAuthorizedException`, `ResourceInUseException` (a stream of that name exists in
    /// the caller's account), or a store failure.
    pub fn create_stream(
        &self,
        caller: &Credential,
        input: &CreateStreamInput,
    ) -> Result<String, KvsError> {
        input.validate()?;
        let mut streams = self.streams.write().map_err(|_| KvsError::poisoned())?;
        let mut created = self.now_ms();
        // Creation times are unique per name, so two streams never share an ARN.
        while streams.values().any(|s| {
            s.stream_arn
                == stream::stream_arn(&self.region, caller.account(), &input.stream_name, created)
        }) {
            created += 1;
        }
        let arn = stream::stream_arn(&self.region, caller.account(), &input.stream_name, created);
        authz::check(
            &self.kms,
            caller,
            Action::CreateStream,
            &arn,
            caller.account(),
        )?;
        if streams
            .values()
            .any(|s| s.account() == caller.account() && s.stream_name == input.stream_name)
        {
            return Err(KvsError::new(
                KvsErrorKind::ResourceInUse,
                format!("The stream {} already exists", input.stream_name),
            ));
        }
        let info = StreamInfo {
            device_name: input.device_name.clone(),
            stream_name: input.stream_name.clone(),
            stream_arn: arn.clone(),
            media_type: input.media_type.clone(),
            kms_key_id: input
                .kms_key_id
                .clone()
                .unwrap_or_else(|| self.default_key_alias_arn(caller.account())),
            version: new_version(),
            status: stream::StreamStatus::Active,
            creation_time: created,
            data_retention_in_hours: input.data_retention_in_hours,
        };
        self.store.put_stream(&info)?;
        streams.insert(arn.clone(), info);
        self.last_seq
            .lock()
            .map_err(|_| KvsError::poisoned())?
            .insert(arn.clone(), 0);
        Ok(arn)
    }

    /// Finds a stream (no authorization).
    pub(crate) fn find(&self, caller: &Credential, r: &StreamRef) -> Result<StreamInfo, KvsError> {
        let streams = self.streams.read().map_err(|_| KvsError::poisoned())?;
        let found = match r {
            StreamRef::Arn(arn) => streams.get(arn).cloned(),
            StreamRef::Name(name) => streams
                .values()
                .find(|s| s.account() == caller.account() && &s.stream_name == name)
                .cloned(),
        };
        found.ok_or_else(|| {
            KvsError::not_found(match r {
                StreamRef::Arn(a) => format!("The requested stream {a} is not found"),
                StreamRef::Name(n) => format!("The requested stream {n} is not found"),
            })
        })
    }

    /// Finds a stream and checks `action` on it.
    pub(crate) fn authorized(
        &self,
        caller: &Credential,
        r: &StreamRef,
        action: Action,
    ) -> Result<StreamInfo, KvsError> {
        if let StreamRef::Name(n) = r {
            stream::validate_stream_name(n)?;
        }
        // Authorize before revealing whether the stream exists, when the ARN is known.
        if let StreamRef::Arn(arn) = r {
            let (_, account, _, _) = stream::parse_stream_arn(arn)
                .ok_or_else(|| KvsError::invalid(format!("{arn} is not a stream ARN")))?;
            authz::check(&self.kms, caller, action, arn, account)?;
            return self.find(caller, r);
        }
        let info = match self.find(caller, r) {
            Ok(info) => info,
            Err(e) => {
                // Say "not found" only to a caller allowed to act on such a stream.
                if let StreamRef::Name(n) = r {
                    let any = format!(
                        "arn:aws:kinesisvideo:{}:{}:stream/{n}/*",
                        self.region,
                        caller.account()
                    );
                    authz::check(&self.kms, caller, action, &any, caller.account())?;
                }
                return Err(e);
            }
        };
        authz::check(&self.kms, caller, action, &info.stream_arn, info.account())?;
        Ok(info)
    }

    /// DescribeStream.
    ///
    /// # Errors
    /// `ResourceNotFoundException`, `NotAuthorizedException`, `InvalidArgumentException`.
    pub fn describe_stream(
        &self,
        caller: &Credential,
        r: &StreamRef,
    ) -> Result<StreamInfo, KvsError> {
        self.authorized(caller, r, Action::DescribeStream)
    }

    /// ListStreams: the caller's account's streams in name order.
    ///
    /// # Errors
    /// `NotAuthorizedException`, `InvalidArgumentException` (`MaxResults` outside 1–10000, a
    /// bad `NextToken`).
    pub fn list_streams(
        &self,
        caller: &Credential,
        input: &ListStreamsInput,
    ) -> Result<ListStreamsOutput, KvsError> {
        authz::check(
            &self.kms,
            caller,
            Action::ListStreams,
            "*",
            caller.account(),
        )?;
        let max = input.max_results.unwrap_or(10_000);
        if !(1..=10_000).contains(&max) {
            return Err(KvsError::invalid("MaxResults must be between 1 and 10000"));
        }
        let streams = self.streams.read().map_err(|_| KvsError::poisoned())?;
        let mut all: Vec<StreamInfo> = streams
            .values()
            .filter(|s| s.account() == caller.account())
            .filter(|s| {
                input
                    .name_begins_with
                    .as_deref()
                    .is_none_or(|p| s.stream_name.starts_with(p))
            })
            .cloned()
            .collect();
        all.sort_by(|a, b| a.stream_name.cmp(&b.stream_name));
        if let Some(t) = &input.next_token {
            stream::validate_stream_name(t).map_err(|_| KvsError::invalid("invalid NextToken"))?;
            all.retain(|s| s.stream_name.as_str() > t.as_str());
        }
        let more = all.len() > max as usize;
        all.truncate(max as usize);
        let next_token = more
            .then(|| all.last().map(|s| s.stream_name.clone()))
            .flatten();
        Ok(ListStreamsOutput {
            stream_info_list: all,
            next_token,
        })
    }

    /// UpdateStream (and the retention of UpdateDataRetention). The KMS key cannot change.
    ///
    /// # Errors
    /// `InvalidArgumentException` when a `KmsKeyId` is given (the key is fixed at
    /// CreateStream) or a field is malformed, `VersionMismatchException`,
    /// `ResourceNotFoundException`, `NotAuthorizedException`.
    pub fn update_stream(
        &self,
        caller: &Credential,
        input: &UpdateStreamInput,
    ) -> Result<StreamInfo, KvsError> {
        let mut info = self.authorized(caller, &input.stream, Action::UpdateStream)?;
        if input.kms_key_id.is_some() {
            return Err(KvsError::invalid(
                "KmsKeyId cannot be changed: a stream's KMS key is set at CreateStream",
            ));
        }
        if input.current_version != info.version {
            return Err(KvsError::new(
                KvsErrorKind::VersionMismatch,
                format!(
                    "The stream version is {}, not {}",
                    info.version, input.current_version
                ),
            ));
        }
        if let Some(d) = &input.device_name {
            CreateStreamInput::new(&info.stream_name)
                .with_device_name(d)
                .validate()?;
            info.device_name = Some(d.clone());
        }
        if let Some(m) = &input.media_type {
            stream::validate_media_type(Some(m))?;
            info.media_type = Some(m.clone());
        }
        if let Some(h) = input.data_retention_in_hours {
            authz::check(
                &self.kms,
                caller,
                Action::UpdateDataRetention,
                &info.stream_arn,
                info.account(),
            )?;
            info.data_retention_in_hours = h;
        }
        info.version = new_version();
        let mut streams = self.streams.write().map_err(|_| KvsError::poisoned())?;
        self.store.put_stream(&info)?;
        streams.insert(info.stream_arn.clone(), info.clone());
        Ok(info)
    }

    /// DeleteStream (by ARN, as the API takes it; a name is accepted too).
    ///
    /// # Errors
    /// `ResourceNotFoundException`, `NotAuthorizedException`, `VersionMismatchException`.
    pub fn delete_stream(
        &self,
        caller: &Credential,
        r: &StreamRef,
        current_version: Option<&str>,
    ) -> Result<(), KvsError> {
        let info = self.authorized(caller, r, Action::DeleteStream)?;
        if let Some(v) = current_version {
            if v != info.version {
                return Err(KvsError::new(
                    KvsErrorKind::VersionMismatch,
                    format!("The stream version is {}, not {v}", info.version),
                ));
            }
        }
        let mut streams = self.streams.write().map_err(|_| KvsError::poisoned())?;
        self.store.delete_stream(&info.stream_arn)?;
        streams.remove(&info.stream_arn);
        Ok(())
    }

    /// GetDataEndpoint: the endpoint of this emulator's data plane for `api_name`
    /// (`PUT_MEDIA`, `GET_MEDIA`, `LIST_FRAGMENTS`, `GET_MEDIA_FOR_FRAGMENT_LIST`).
    ///
    /// # Errors
    /// `InvalidArgumentException` for another API name, `ResourceNotFoundException`,
    /// `NotAuthorizedException`.
    pub fn get_data_endpoint(
        &self,
        caller: &Credential,
        r: &StreamRef,
        api_name: &str,
    ) -> Result<String, KvsError> {
        if !matches!(
            api_name,
            "PUT_MEDIA" | "GET_MEDIA" | "LIST_FRAGMENTS" | "GET_MEDIA_FOR_FRAGMENT_LIST"
        ) {
            return Err(KvsError::invalid(format!(
                "APIName {api_name} is not supported"
            )));
        }
        self.authorized(caller, r, Action::GetDataEndpoint)?;
        Ok(format!(
            "https://kinesisvideo.{}.amazonaws.com",
            self.region
        ))
    }
}
