ALTER TABLE "digest_runs" ADD COLUMN "last_item_id" bigint DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE "digest_runs" ADD COLUMN "last_message_id" bigint DEFAULT 0 NOT NULL;