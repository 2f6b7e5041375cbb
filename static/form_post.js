// Submits the authorization response to the client (OAuth 2.0 Form Post
// Response Mode). Served as a file so the page needs no inline script.
document.getElementById("response").submit();
