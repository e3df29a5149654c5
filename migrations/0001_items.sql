CREATE TABLE "item_events" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"item_id" bigint NOT NULL,
	"at" timestamp with time zone DEFAULT now() NOT NULL,
	"actor" text NOT NULL,
	"action" text NOT NULL,
	"from" jsonb,
	"to" jsonb,
	"reason" text
);
--> statement-breakpoint
CREATE TABLE "items" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"message_id" bigint NOT NULL,
	"key" text NOT NULL,
	"kind" text NOT NULL,
	"text" text,
	"quoted" text,
	"signature" text,
	"language" text,
	"url" text,
	"attachment_id" bigint,
	"story" integer,
	"link_method" text,
	"link_confidence" real,
	"link_reason" text,
	"status" text DEFAULT 'pending' NOT NULL,
	"display_name" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
ALTER TABLE "messages" ADD COLUMN "ack_block" text;--> statement-breakpoint
ALTER TABLE "messages" ADD COLUMN "understood_at" timestamp with time zone;--> statement-breakpoint
ALTER TABLE "item_events" ADD CONSTRAINT "item_events_item_id_items_id_fk" FOREIGN KEY ("item_id") REFERENCES "public"."items"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "items" ADD CONSTRAINT "items_message_id_messages_id_fk" FOREIGN KEY ("message_id") REFERENCES "public"."messages"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "items" ADD CONSTRAINT "items_attachment_id_attachments_id_fk" FOREIGN KEY ("attachment_id") REFERENCES "public"."attachments"("id") ON DELETE set null ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "item_events_item" ON "item_events" USING btree ("item_id");--> statement-breakpoint
CREATE UNIQUE INDEX "items_message_key" ON "items" USING btree ("message_id","key");--> statement-breakpoint
CREATE INDEX "items_story" ON "items" USING btree ("story");--> statement-breakpoint
CREATE INDEX "items_status" ON "items" USING btree ("status");