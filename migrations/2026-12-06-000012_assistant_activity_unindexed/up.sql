-- Nothing reads assistants by (status, last_active_at): the original reaped
-- idle agents with it, HeyClaw hibernates slots instead. The index made the
-- turn recorder's update of each assistant (message_count, last_active_at)
-- a non-HOT update writing all five of the table's indexes on every batch.
DROP INDEX assistants_status_last_active_idx;
