// Starts Swagger UI on /docs. A file rather than an inline script, so the page's policy can forbid inline code.
window.ui = SwaggerUIBundle({
  url: "/openapi.json",
  dom_id: "#swagger-ui",
  deepLinking: true,
  presets: [SwaggerUIBundle.presets.apis],
  layout: "BaseLayout",
  // The key a keyed server wants, once given through "Authorize", is kept for this tab's later visits.
  persistAuthorization: true,
});
