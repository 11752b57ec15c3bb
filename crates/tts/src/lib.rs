//! Speech for HeyClaw: text-to-speech providers (ElevenLabs, OpenAI) behind one
//! trait, and speech-to-text (OpenAI Whisper). It knows nothing of users,
//! quotas or HTTP routes.
