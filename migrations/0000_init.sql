CREATE TABLE "attachments" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"message_id" bigint NOT NULL,
	"part_index" integer NOT NULL,
	"filename" text,
	"content_type" text NOT NULL,
	"disposition" text,
	"content_id" text,
	"size" bigint NOT NULL,
	"sha256" text NOT NULL,
	"path" text NOT NULL,
	"truncated" boolean DEFAULT false NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "mailbox_checkpoints" (
	"mailbox" text NOT NULL,
	"uid_validity" bigint NOT NULL,
	"last_uid" bigint DEFAULT 0 NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "mailbox_checkpoints_mailbox_uid_validity_pk" PRIMARY KEY("mailbox","uid_validity")
);
--> statement-breakpoint
CREATE TABLE "messages" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"source" text NOT NULL,
	"origin" text NOT NULL,
	"sha256" text NOT NULL,
	"size" bigint NOT NULL,
	"raw_path" text NOT NULL,
	"raw_complete" boolean DEFAULT true NOT NULL,
	"received_at" timestamp with time zone DEFAULT now() NOT NULL,
	"status" text DEFAULT 'stored' NOT NULL,
	"parse_attempts" integer DEFAULT 0 NOT NULL,
	"parse_error" text,
	"quarantine_reason" text,
	"classification" text,
	"classification_reason" text,
	"rfc_message_id" text,
	"in_reply_to" text,
	"references" jsonb,
	"from_address" text,
	"from_name" text,
	"envelope_sender" text,
	"to" jsonb,
	"cc" jsonb,
	"reply_to" jsonb,
	"subject" text,
	"sent_at" timestamp with time zone,
	"headers" jsonb,
	"text_body" text,
	"html_body" text,
	"parsed_at" timestamp with time zone
);
--> statement-breakpoint
ALTER TABLE "attachments" ADD CONSTRAINT "attachments_message_id_messages_id_fk" FOREIGN KEY ("message_id") REFERENCES "public"."messages"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE UNIQUE INDEX "attachments_message_part" ON "attachments" USING btree ("message_id","part_index");--> statement-breakpoint
CREATE UNIQUE INDEX "messages_origin_sha256" ON "messages" USING btree ("origin","sha256");--> statement-breakpoint
CREATE INDEX "messages_status" ON "messages" USING btree ("status");--> statement-breakpoint
CREATE INDEX "messages_rfc_message_id" ON "messages" USING btree ("rfc_message_id");--> statement-breakpoint
CREATE INDEX "messages_raw_path" ON "messages" USING btree ("raw_path");